// Types of image-classifier.mjs: MediaPipe's ImageClassifier (@mediapipe/tasks-vision), shaped
// like tasks-vision's own declarations, but asynchronous (the work runs in a module Web Worker),
// with LIVE_STREAM and what the runtime reports about itself.

/** Where the runtime files are served from (MediaPipe's WasmFileset). */
export declare interface WasmFileset {
  /** The runtime's worker (worker.mjs); the other runtime files sit beside it. */
  wasmLoaderPath: string;
  /** Pyodide's WebAssembly binary (pyodide/pyodide.asm.wasm). */
  wasmBinaryPath: string;
  assetLoaderPath?: string;
  assetBinaryPath?: string;
}

/** Makes the fileset of the runtime files, as MediaPipe's FilesetResolver. */
export declare class FilesetResolver {
  /**
   * The runtime files served from `basePath` (a URL or a path of the page; e.g. a CDN, or the
   * folder the package's files were copied to). Without it, beside this module.
   */
  static forVisionTasks(basePath?: string): Promise<WasmFileset>;
}

/** Options to load the model. */
export declare interface BaseOptions {
  /** The model's URL (.tflite or .onnx); one of modelAssetPath or modelAssetBuffer. */
  modelAssetPath?: string | undefined;
  /** The model's bytes. */
  modelAssetBuffer?: Uint8Array | ArrayBuffer | undefined;
  /** 'GPU' runs on WebGPU where an adapter exists (else on WebAssembly, with a note). */
  delegate?: "CPU" | "GPU" | undefined;
}

/** IMAGE and VIDEO as MediaPipe's web API; LIVE_STREAM as its Python API. */
export declare type RunningMode = "IMAGE" | "VIDEO" | "LIVE_STREAM";

export declare interface ClassifierOptions {
  /** The locale of display names from the model's metadata (default 'en'). */
  displayNamesLocale?: string | undefined;
  /** The most categories returned per head (default: all). */
  maxResults?: number | undefined;
  /** Overrides the model's threshold: lower scores are dropped. */
  scoreThreshold?: number | undefined;
  /** Only these category names. Exclusive with categoryDenylist. */
  categoryAllowlist?: string[] | undefined;
  /** Never these category names. Exclusive with categoryAllowlist. */
  categoryDenylist?: string[] | undefined;
}

export declare interface ImageClassifierOptions extends ClassifierOptions {
  baseOptions?: BaseOptions;
  /** Default 'IMAGE'. */
  runningMode?: RunningMode;
  /** LIVE_STREAM: called with each result (errors it throws are logged). */
  resultCallback?: ((result: ImageClassifierResult, timestampMs: number) => void) | undefined;
}

/** A classification category. */
export declare interface Category {
  score: number;
  /** The index of the category in the model's label file. */
  index: number;
  /** The label; '' if the model has none. */
  categoryName: string;
  /** The label in displayNamesLocale; '' if the model has none. */
  displayName: string;
}

/** The results of one classifier head. */
export declare interface Classifications {
  /** Sorted by descending score. */
  categories: Category[];
  headIndex: number;
  /** The head's name from the model's metadata; '' if none. */
  headName: string;
}

export declare interface ImageClassifierResult {
  /** One entry per head of the model. */
  classifications: Classifications[];
  timestampMs?: number;
}

/** A rectangle in normalized coordinates ([0, 1]; left < right, top < bottom). */
export declare interface RectF {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

export declare interface ImageProcessingOptions {
  /** The region to classify; the whole image when absent. */
  regionOfInterest?: RectF;
  /** Clockwise rotation, a multiple of 90°. */
  rotationDegrees?: number;
}

/** What classify() takes: drawable images, raw RGBA pixels, or encoded bytes. */
export declare type ImageSource =
  | HTMLImageElement
  | SVGImageElement
  | HTMLVideoElement
  | HTMLCanvasElement
  | OffscreenCanvas
  | ImageBitmap
  | VideoFrame
  | ImageData
  | Blob;

/** What runs the model. */
export declare interface EngineInfo {
  engine: "LiteRT.js" | "onnxruntime-web";
  backend: "wasm" | "webgpu";
  threads: number;
  /** Why the engine runs otherwise than asked (e.g. no WebGPU); '' if it does as asked. */
  note: string;
  /** Worker threads the engines started so far. */
  threadWorkers?: number;
}

/** What the model says about itself; what it lacks is undefined. */
export declare interface ModelInfo {
  name?: string;
  description?: string;
  version?: string;
  author?: string;
  license?: string;
  format: "onnx" | "tflite";
  sizeBytes: number;
  input: {
    width: number;
    height: number;
    channels: number;
    layout: "NHWC" | "NCHW";
    dtype: string;
    normalization?: { mean: number[]; std: number[] };
  };
  /** The quantized weight types (['int8'], or [] for a float model). */
  quantization: string[];
  heads: Array<{
    index: number;
    name: string;
    classes: number;
    dtype: string;
    quantization?: { scale: number; zeroPoint: number };
    labels: number;
    locales: string[];
    scoreThreshold?: number;
    calibration?: string;
  }>;
}

/** Milliseconds of the stages of the last classification. */
export declare interface Timings {
  decode: number;
  preprocess: number;
  inference: number;
  postprocess: number;
}

/** LIVE_STREAM counters: frames received, processed and dropped (only the newest waits). */
export declare interface LiveStreamStats {
  received: number;
  processed: number;
  dropped: number;
  waiting: number;
  maxWaiting: number;
}

/** A camera's frames being classified (classifyStream). */
export declare interface ClassifyStream {
  transport: "MediaStreamTrackProcessor" | "ImageBitmap";
  stop(): void;
  /** 'stopped' (stop() or close()), 'ended' (the track ended); rejects on an error. */
  ended: Promise<"stopped" | "ended">;
}

/** Performs classification on images, in a Web Worker. */
export declare class ImageClassifier {
  /** Starts the runtime (from `wasmFileset`, else beside this module) and loads the model. */
  static createFromOptions(wasmFileset: WasmFileset, imageClassifierOptions: ImageClassifierOptions): Promise<ImageClassifier>;
  static createFromOptions(imageClassifierOptions: ImageClassifierOptions): Promise<ImageClassifier>;
  static createFromModelBuffer(wasmFileset: WasmFileset, modelAssetBuffer: Uint8Array | ArrayBuffer): Promise<ImageClassifier>;
  static createFromModelBuffer(modelAssetBuffer: Uint8Array | ArrayBuffer): Promise<ImageClassifier>;
  static createFromModelPath(wasmFileset: WasmFileset, modelAssetPath: string): Promise<ImageClassifier>;
  static createFromModelPath(modelAssetPath: string): Promise<ImageClassifier>;
  private constructor();

  /** The options in force (model bytes left out). */
  readonly options: ImageClassifierOptions;
  readonly engine: EngineInfo;
  readonly model: ModelInfo;
  readonly lastTimingsMs: Timings | null;
  /** The size of the last image classified. */
  readonly lastImageSize?: { width: number; height: number };
  readonly liveStreamStats: LiveStreamStats | null;
  /** LIVE_STREAM: ms from the last delivered frame's hand-over to its result. */
  readonly lastLatencyMs: number | null;

  /** Changes the given options; one set to undefined goes back to its default. */
  setOptions(options: ImageClassifierOptions): Promise<void>;
  /** IMAGE mode. */
  classify(image: ImageSource, imageProcessingOptions?: ImageProcessingOptions): Promise<ImageClassifierResult>;
  /** VIDEO mode; timestamps must increase. */
  classifyForVideo(videoFrame: ImageSource, timestamp: number, imageProcessingOptions?: ImageProcessingOptions): Promise<ImageClassifierResult>;
  /** LIVE_STREAM mode: resolves once the frame is handed over; the result goes to resultCallback. */
  classifyAsync(image: ImageSource, timestampMs: number, imageProcessingOptions?: ImageProcessingOptions): Promise<void>;
  /** LIVE_STREAM mode: every frame of a camera track. */
  classifyStream(
    track: MediaStreamTrack,
    options?: { imageProcessingOptions?: ImageProcessingOptions; transport?: "MediaStreamTrackProcessor" | "ImageBitmap" },
  ): ClassifyStream;
  /** Frees the model (the runtime stays for the page's other classifiers). */
  close(): Promise<void>;
}

export declare interface RuntimeOptions {
  /** The engines' WebAssembly threads (default: the cores, at most 4; 1 without cross-origin isolation). */
  numThreads?: number;
}

export declare interface RuntimeStatus {
  /** Without it the engines run on one thread (the console says so). */
  crossOriginIsolated: boolean;
  hardwareConcurrency: number;
  threads: number;
  threadWorkers: number;
  /** WebAssembly JavaScript Promise Integration. */
  jspi: boolean;
  /** Whether photos are sampled by warp.wasm (WebAssembly SIMD); else by numpy, more slowly. */
  wasmWarp: boolean;
  /** The model formats the engines run: 'onnx', 'tflite'. */
  formats: string[];
  bootMs: { pyodide: number; packages: number; imports: number; total: number };
  engine: EngineInfo | null;
  /** Bytes of the WebAssembly heaps. */
  memory: { pyodideWasm: number; engineWasm: number };
}

/** Starts loading the runtime now (the create* methods do it too). */
export declare function loadRuntime(wasmFileset: WasmFileset, options?: RuntimeOptions): Promise<RuntimeStatus>;
export declare function loadRuntime(options?: RuntimeOptions): Promise<RuntimeStatus>;

/** Has the browser keep the runtime's compiled JavaScript, so that later starts do not parse
 *  it again: it imports it twice in throwaway workers. Worth calling once the runtime's files
 *  are stored (by a service worker, or in the HTTP cache). */
export declare function primeCodeCache(wasmFileset?: WasmFileset): Promise<void>;

export declare interface RuntimeProgress {
  stage: string;
  /** 0..1 */
  fraction: number;
  message: string;
}

/** Loading progress: 'progress' events (CustomEvent<RuntimeProgress>). */
export declare const runtime: EventTarget;

export default ImageClassifier;
