// A tiny worker that keeps a camera's frames flowing while the classifier worker computes.
//
// The engines run a model on the classifier worker's thread (onnxruntime-web synchronously), and a camera
// whose frames are not read promptly discards them (its buffers are few): frames would be lost
// before Python's LIVE_STREAM runner ever saw them, uncounted. So this worker reads the
// MediaStreamTrackProcessor stream as it comes, copies each frame to RGBA and releases it, and
// posts the pixels to the classifier worker. There they wait in the message queue only while
// the engine computes; then all are handed to Python, which keeps the newest and counts the
// others as dropped.
//
// Started by image-classifier.mjs (classifyStream), which transfers the stream here directly
// (a stream passed on through the classifier worker would stall while it computes).
// In:  {readable: ReadableStream<VideoFrame>, port: MessagePort}   (port: to the classifier worker)
// Out (on port): {frame: {rgba, width, height}, timestampMs, sentAt} per frame; {end: 'ended' | 'error', message}
// Stop: {stop: true} on the port (the stream is cancelled, then {end: 'ended'}).

import { pixelsOf } from './pixels.mjs';

self.onmessage = async ({ data: { readable, port } }) => {
  const reader = readable.getReader();
  port.onmessage = ({ data }) => {
    if (data.stop) reader.cancel().catch(() => {});
  };
  try {
    for (;;) {
      const { value: frame, done } = await reader.read();
      if (done) break;
      const sentAt = performance.timeOrigin + performance.now();
      const timestampMs = Math.round(frame.timestamp / 1000);
      const image = await pixelsOf(frame); // closes the frame
      port.postMessage({ frame: image, timestampMs, sentAt }, [image.rgba.buffer]);
    }
    port.postMessage({ end: 'ended' });
  } catch (error) {
    port.postMessage({ end: 'error', message: error.message ?? String(error) });
  } finally {
    port.close();
    self.close();
  }
};
