// MediaPipe's ImageClassifier (@mediapipe/tasks-vision, its wasm served from this origin) on
// the .tflite file of the same weights, for bench.mjs. It runs on the page's thread, as
// MediaPipe's own samples do, and reports no stages.
import { FilesetResolver, ImageClassifier } from '/__mediapipe__/vision_bundle.mjs';

export async function create({ model, delegate, maxResults }) {
  const fileset = await FilesetResolver.forVisionTasks(new URL('/__mediapipe__/wasm', location.href).href);
  const classifier = await ImageClassifier.createFromOptions(fileset, {
    baseOptions: { modelAssetPath: model, delegate },
    maxResults,
  });
  return {
    // Its GPU delegate runs on WebGL.
    info: { engine: 'mediapipe', backend: delegate === 'GPU' ? 'webgl' : 'wasm', threads: 1 },
    async classify(image) {
      return { result: classifier.classify(image) };
    },
    setOptions: (options) => classifier.setOptions(options),
    memory: async () => null,
  };
}
