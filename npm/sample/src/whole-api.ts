// Every class, option and result of the package's declarations, used as an app would: checked
// by `tsc --noEmit` (tests/browser/test_npm_package.py), never run.
import ImageClassifierDefault, {
  FilesetResolver,
  ImageClassifier,
  loadRuntime,
  runtime,
  type Category,
  type Classifications,
  type ClassifyStream,
  type EngineInfo,
  type ImageClassifierOptions,
  type ImageClassifierResult,
  type ImageProcessingOptions,
  type ImageSource,
  type LiveStreamStats,
  type ModelInfo,
  type RectF,
  type RunningMode,
  type RuntimeProgress,
  type RuntimeStatus,
  type Timings,
  type WasmFileset,
} from 'pyodide-image-classifier';

export async function tour(image: ImageSource, track: MediaStreamTrack, bytes: Uint8Array): Promise<string[]> {
  const fileset: WasmFileset = await FilesetResolver.forVisionTasks('https://cdn.example/image-classifier/');
  runtime.addEventListener('progress', (event) => {
    const { stage, fraction, message }: RuntimeProgress = (event as CustomEvent<RuntimeProgress>).detail;
    console.log(stage, fraction.toFixed(2), message);
  });
  const status: RuntimeStatus = await loadRuntime(fileset, { numThreads: 2 });
  const threads: number = status.crossOriginIsolated ? status.threads : 1;

  const mode: RunningMode = 'IMAGE';
  const options: ImageClassifierOptions = {
    baseOptions: { modelAssetPath: 'models/efficientnet_lite0_int8.tflite', delegate: 'GPU' },
    runningMode: mode,
    maxResults: 3,
    scoreThreshold: 0.1,
    displayNamesLocale: 'it',
    categoryAllowlist: ['tabby', 'tiger cat'],
  };
  const classifier: ImageClassifier = await ImageClassifier.createFromOptions(fileset, options);
  const region: RectF = { left: 0.1, top: 0.1, right: 0.9, bottom: 0.9 };
  const processing: ImageProcessingOptions = { regionOfInterest: region, rotationDegrees: 90 };
  const result: ImageClassifierResult = await classifier.classify(image, processing);
  const heads: Classifications[] = result.classifications;
  const best: Category | undefined = heads[0]?.categories[0];
  const names = heads.flatMap((head) => head.categories.map((c) => `${head.headName}/${c.categoryName} ${c.displayName} ${c.index} ${c.score}`));

  const engine: EngineInfo = classifier.engine;
  const model: ModelInfo = classifier.model;
  const timings: Timings | null = classifier.lastTimingsMs;
  names.push(`${engine.engine} ${engine.backend} ${engine.threads} ${engine.note}`, `${model.format} ${model.input.width}x${model.input.height} ${model.heads[0]?.labels}`);
  names.push(`${timings?.decode} ${timings?.preprocess} ${timings?.inference} ${timings?.postprocess} ${best?.score} ${threads}`);
  await classifier.setOptions({ maxResults: undefined, categoryAllowlist: undefined, runningMode: 'VIDEO' });
  const frame: ImageClassifierResult = await classifier.classifyForVideo(image, 33);
  names.push(String(frame.timestampMs));
  await classifier.close();

  const live = await ImageClassifierDefault.createFromOptions({
    baseOptions: { modelAssetBuffer: bytes },
    runningMode: 'LIVE_STREAM',
    resultCallback: (live: ImageClassifierResult, timestampMs: number) => names.push(`${timestampMs} ${live.classifications.length}`),
  });
  await live.classifyAsync(image, 1000);
  const stream: ClassifyStream = live.classifyStream(track, { imageProcessingOptions: processing, transport: 'ImageBitmap' });
  stream.stop();
  const ended: 'stopped' | 'ended' = await stream.ended;
  const stats: LiveStreamStats | null = live.liveStreamStats;
  names.push(`${ended} ${stats?.received} ${stats?.dropped} ${live.lastLatencyMs} ${live.options.runningMode}`);
  await live.close();

  const byPath = await ImageClassifier.createFromModelPath(fileset, 'models/efficientnet_lite0_int8.tflite');
  const byBuffer = await ImageClassifier.createFromModelBuffer(bytes.buffer as ArrayBuffer);
  await Promise.all([byPath.close(), byBuffer.close()]);
  return names;
}
