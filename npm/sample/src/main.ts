// A web developer's app: the package imported by name, bundled by Vite; its runtime files
// copied to public/image-classifier/ (or served by another origin, named by ?runtime=URL).
import { FilesetResolver, ImageClassifier, loadRuntime } from 'pyodide-image-classifier';

const runtimeUrl = new URLSearchParams(location.search).get('runtime') ?? '/image-classifier/';
const fileset = await FilesetResolver.forVisionTasks(runtimeUrl);
const classifier = await ImageClassifier.createFromOptions(fileset, {
  baseOptions: { modelAssetPath: new URL('models/efficientnet_lite0_int8.tflite', fileset.wasmLoaderPath).href },
  maxResults: 5,
});
const status = await loadRuntime(fileset);
document.querySelector('#status')!.textContent = JSON.stringify({ status, engine: classifier.engine });

const input = document.querySelector<HTMLInputElement>('#file')!;
input.addEventListener('change', async () => {
  const file = input.files?.[0];
  if (!file) return;
  const result = await classifier.classify(file);
  document.querySelector('#result')!.textContent = JSON.stringify(result);
});
input.disabled = false;
