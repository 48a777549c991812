// Our classifier (the site's public JS API: Python in a worker) for bench.mjs; the engine
// follows the model file (.onnx: onnxruntime-web, .tflite: LiteRT.js).
import { ImageClassifier, loadRuntime } from '/image-classifier.mjs';

export async function create({ model, threads, delegate, maxResults }) {
  // Both at once, as an app would: the worker fetches the model while Python boots.
  const status = loadRuntime({ numThreads: threads });
  const classifier = await ImageClassifier.createFromOptions({
    baseOptions: { modelAssetPath: model, delegate },
    maxResults,
  });
  const runtime = await status;
  return {
    info: {
      ...classifier.engine,
      pythonBootMs: runtime.bootMs.total,
      // The boot's stages, in ms from this page's navigation (the worker has its own clock).
      bootStages: Object.fromEntries(
        Object.entries(runtime.bootMs).map(([stage, ms]) => [stage, runtime.bootStartedAt + ms - performance.timeOrigin]),
      ),
      snapshot: runtime.snapshot.used,
    },
    async classify(image) {
      const result = await classifier.classify(image);
      return { result, stages: classifier.lastTimingsMs };
    },
    setOptions: (options) => classifier.setOptions(options),
    /** The worker's WebAssembly heaps (bytes): Pyodide's, and the engine's. */
    memory: async () => (await loadRuntime()).memory,
  };
}
