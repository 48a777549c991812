;; The warp's sampling of 4-byte pixels (RGBA bitmaps, BGRA camera frames) for Python in the
;; worker, in WebAssembly with SIMD, on Python's own memory (imported): preprocess.py works out
;; the geometry and its sampling plan per axis, and `warp` does the arithmetic in one pass
;; (preprocess.use_words_kernel, through warp.mjs). The same integers as the numpy warp
;; (warpPerspective's): for output row i and column j, each channel byte of the four pixel
;; words at row tap + column tap, weighted by row weight times column weight, summed and
;; rounded as (512 + sum) >> 10.
;;
;; Per pixel, two taps of a row are one vector: the words of the left and right column, their
;; bytes interleaved as 16-bit lanes (left, right) per channel, so that one dot product with
;; (row weight x left weight, row weight x right weight) sums both taps of all four channels.
;; Weights are at most 32 x 32 = 1024 and bytes 255: every product and sum is exact.
;;
;; Built into warp.wasm by the site build (web/build_site.py, with wabt's wat2wasm from npm).
(module
  (import "env" "memory" (memory 0))
  ;; Arguments: addresses in the memory (bytes) and counts, as warp.mjs documents them.
  (func (export "warp")
    (param $table i32) (param $c0 i32) (param $c1 i32) (param $c2 i32)
    (param $rows0 i32) (param $rowWeights0 i32) (param $rows1 i32) (param $rowWeights1 i32)
    (param $height i32)
    (param $columns0 i32) (param $columnWeights0 i32) (param $columns1 i32)
    (param $columnWeights1 i32) (param $width i32)
    (param $values i32) (param $p0 i32) (param $p1 i32) (param $p2 i32) (param $step i32)
    (local $i i32) (local $j i32) (local $at i32) (local $column i32)
    (local $top i32) (local $bottom i32) (local $left i32) (local $right i32)
    (local $topWeight v128) (local $bottomWeight v128) (local $columnWeights v128)
    (local $sum v128) (local $word i32)
    (local $s0 i32) (local $s1 i32) (local $s2 i32)
    ;; Bit offsets of the channels in a word; the output's step in bytes (float32 or uint8).
    (local.set $s0 (i32.shl (local.get $c0) (i32.const 3)))
    (local.set $s1 (i32.shl (local.get $c1) (i32.const 3)))
    (local.set $s2 (i32.shl (local.get $c2) (i32.const 3)))
    (if (local.get $values)
      (then (local.set $step (i32.shl (local.get $step) (i32.const 2)))))
    (block $rowsDone
      (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $height)))
        (local.set $top (i32.add (local.get $table) (i32.shl
          (i32.load (i32.add (local.get $rows0) (i32.shl (local.get $i) (i32.const 2))))
          (i32.const 2))))
        (local.set $bottom (i32.add (local.get $table) (i32.shl
          (i32.load (i32.add (local.get $rows1) (i32.shl (local.get $i) (i32.const 2))))
          (i32.const 2))))
        (local.set $topWeight (i16x8.splat
          (i32.load (i32.add (local.get $rowWeights0) (i32.shl (local.get $i) (i32.const 2))))))
        (local.set $bottomWeight (i16x8.splat
          (i32.load (i32.add (local.get $rowWeights1) (i32.shl (local.get $i) (i32.const 2))))))
        (local.set $j (i32.const 0))
        (block $columnsDone
          (loop $columns
            (br_if $columnsDone (i32.ge_u (local.get $j) (local.get $width)))
            (local.set $column (i32.shl (local.get $j) (i32.const 2)))
            (local.set $left (i32.shl
              (i32.load (i32.add (local.get $columns0) (local.get $column))) (i32.const 2)))
            (local.set $right (i32.shl
              (i32.load (i32.add (local.get $columns1) (local.get $column))) (i32.const 2)))
            ;; (left weight, right weight) in every pair of 16-bit lanes.
            (local.set $columnWeights (i32x4.splat (i32.or
              (i32.load (i32.add (local.get $columnWeights0) (local.get $column)))
              (i32.shl (i32.load (i32.add (local.get $columnWeights1) (local.get $column)))
                       (i32.const 16)))))
            (local.set $sum (i32x4.shr_s
              (i32x4.add
                (i32x4.add
                  (i32x4.dot_i16x8_s
                    (i8x16.shuffle 0 16 4 16 1 16 5 16 2 16 6 16 3 16 7 16
                      (v128.load32_lane 1 (i32.add (local.get $top) (local.get $right))
                        (v128.load32_zero (i32.add (local.get $top) (local.get $left))))
                      (v128.const i32x4 0 0 0 0))
                    (i16x8.mul (local.get $columnWeights) (local.get $topWeight)))
                  (i32x4.dot_i16x8_s
                    (i8x16.shuffle 0 16 4 16 1 16 5 16 2 16 6 16 3 16 7 16
                      (v128.load32_lane 1 (i32.add (local.get $bottom) (local.get $right))
                        (v128.load32_zero (i32.add (local.get $bottom) (local.get $left))))
                      (v128.const i32x4 0 0 0 0))
                    (i16x8.mul (local.get $columnWeights) (local.get $bottomWeight))))
                (v128.const i32x4 512 512 512 512))
              (i32.const 10)))
            ;; The four channel values (0..255) as the bytes of one word, in the pixel's order.
            (local.set $word (i32x4.extract_lane 0 (i8x16.narrow_i16x8_u
              (i16x8.narrow_i32x4_u (local.get $sum) (local.get $sum))
              (i16x8.narrow_i32x4_u (local.get $sum) (local.get $sum)))))
            (if (local.get $values)
              (then
                (f32.store (i32.add (local.get $p0) (local.get $at)) (f32.load (i32.add
                  (local.get $values) (i32.shl (i32.and (i32.shr_u (local.get $word) (local.get $s0))
                                                        (i32.const 255)) (i32.const 2)))))
                (f32.store (i32.add (local.get $p1) (local.get $at)) (f32.load (i32.add
                  (local.get $values) (i32.shl (i32.and (i32.shr_u (local.get $word) (local.get $s1))
                                                        (i32.const 255)) (i32.const 2)))))
                (f32.store (i32.add (local.get $p2) (local.get $at)) (f32.load (i32.add
                  (local.get $values) (i32.shl (i32.and (i32.shr_u (local.get $word) (local.get $s2))
                                                        (i32.const 255)) (i32.const 2))))))
              (else
                (i32.store8 (i32.add (local.get $p0) (local.get $at))
                  (i32.shr_u (local.get $word) (local.get $s0)))
                (i32.store8 (i32.add (local.get $p1) (local.get $at))
                  (i32.shr_u (local.get $word) (local.get $s1)))
                (i32.store8 (i32.add (local.get $p2) (local.get $at))
                  (i32.shr_u (local.get $word) (local.get $s2)))))
            (local.set $at (i32.add (local.get $at) (local.get $step)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $columns)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))))
