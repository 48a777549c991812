// The page's camera (LIVE_STREAM) and video file (VIDEO) panels: UI only.
//
// Both use the public JS API (image-classifier.mjs) with the options of the page's form; the
// Python classifier in the worker does the work. For the camera, classifyStream() sends the
// frames to the worker without passing through this thread; Python's runner keeps the newest
// frame and counts the dropped ones (liveStreamStats). For a video file, every frame (or every
// Nth) is classified with classifyForVideo and its media time as the timestamp.

import { ImageClassifier } from './image-classifier.mjs';

const $ = (id) => document.getElementById(id);
const OVERLAY_LABELS = 3;
const KEPT_RESULTS = 5000; // the camera's result log kept for the page (and tests)

/** For tests and the console: window.app.live.{camera, video}. */
export const live = {
  camera: {
    classifier: null,
    stream: null,
    results: [], // [{timestampMs, index, name, score}] of the top category, oldest first
    stats: null, // Python's runner: {received, processed, dropped, waiting, maxWaiting}
    fps: 0,
    latencyMs: null,
    state: 'off', // 'off' | 'starting' | 'on'
    message: '',
  },
  video: { classifier: null, file: null, results: [], frames: 0, state: 'idle', runs: 0, done: Promise.resolve() },
};

let formOptions = () => ({});

function topCategory(result) {
  return result.classifications[0]?.categories[0];
}

function label(category) {
  return category.displayName || category.categoryName || `#${category.index}`;
}

function showPanelMessage(id, text) {
  const box = $(id);
  box.textContent = text;
  box.className = 'message error';
  box.hidden = !text;
}

/** Options of the form for a classifier of another running mode. */
function optionsFor(runningMode, extra = {}) {
  const { runningMode: _imageMode, ...options } = formOptions();
  return { ...options, runningMode, ...extra };
}

// --- camera ----------------------------------------------------------------------------------

const camera = live.camera;
let media = null; // the MediaStream
let userStopped = false;
const resultTimes = []; // page times of the results of the last second, for fps

const CAMERA_ERRORS = {
  NotAllowedError:
    'Camera access was denied. Allow the camera for this page in the browser’s site settings, then press Start camera again.',
  SecurityError:
    'Camera access was denied. Allow the camera for this page in the browser’s site settings, then press Start camera again.',
  NotFoundError: 'No camera was found. Connect a camera, then press Start camera again.',
  OverconstrainedError: 'The chosen camera is not available any more. Pick another one, then press Start camera.',
  NotReadableError: 'The camera could not be started: another application may be using it.',
  AbortError: 'The camera could not be started: another application may be using it.',
};
const CAMERA_GONE = 'The camera stopped sending video: it was disconnected or turned off. Connect it, then press Start camera.';

function cameraMessage(text) {
  camera.message = text;
  showPanelMessage('camera-message', text);
}

function setCameraState(state) {
  camera.state = state;
  $('camera-start').disabled = state !== 'off';
  $('camera-stop').disabled = state === 'off';
  $('camera-select').disabled = state === 'starting';
  document.body.dataset.camera = state;
}

async function listCameras() {
  if (!navigator.mediaDevices?.enumerateDevices) return;
  const select = $('camera-select');
  const chosen = select.value;
  const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
  const options = [new Option('Default camera', '')];
  cameras.forEach((device, i) => {
    if (device.deviceId) options.push(new Option(device.label || `Camera ${i + 1}`, device.deviceId));
  });
  select.replaceChildren(...options);
  const current = media?.getVideoTracks()[0]?.getSettings().deviceId;
  select.value = [...select.options].some((o) => o.value === (current || chosen)) ? current || chosen : '';
}

function renderStats() {
  const stats = camera.stats;
  $('live-fps').textContent = camera.state === 'on' ? camera.fps.toFixed(1) : '–';
  $('live-latency').textContent = camera.latencyMs === null ? '–' : `${Math.round(camera.latencyMs)} ms`;
  $('live-dropped').textContent = stats ? String(stats.dropped) : '0';
  $('live-received').textContent = stats ? String(stats.received) : '0';
  $('live-processed').textContent = stats ? String(stats.processed) : '0';
  $('live-waiting').textContent = stats ? String(stats.maxWaiting) : '0';
}

function renderOverlay(result) {
  const items = (result.classifications[0]?.categories ?? []).slice(0, OVERLAY_LABELS).map((category) => {
    const item = document.createElement('li');
    item.dataset.index = category.index;
    item.textContent = `${label(category)} ${(category.score * 100).toFixed(1)}%`;
    return item;
  });
  $('camera-overlay').replaceChildren(...items);
}

function onLiveResult(result, timestampMs) {
  const now = performance.now();
  resultTimes.push(now);
  while (resultTimes.length && resultTimes[0] < now - 1000) resultTimes.shift();
  camera.fps = resultTimes.length;
  camera.stats = camera.classifier?.liveStreamStats ?? camera.stats;
  camera.latencyMs = camera.classifier?.lastLatencyMs ?? null;
  const top = topCategory(result);
  camera.results.push({ timestampMs, index: top?.index ?? -1, name: top?.categoryName ?? '', score: top?.score ?? 0 });
  if (camera.results.length > KEPT_RESULTS) camera.results.splice(0, camera.results.length - KEPT_RESULTS);
  renderOverlay(result);
  renderStats();
}

async function startCamera() {
  if (camera.state !== 'off') return;
  setCameraState('starting');
  cameraMessage('');
  userStopped = false;
  try {
    if (!navigator.mediaDevices?.getUserMedia) {
      throw Object.assign(new Error('Camera access needs a secure page (https or localhost) in a browser that supports it.'), { name: 'Unsupported' });
    }
    const deviceId = $('camera-select').value;
    media = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { deviceId: deviceId ? { exact: deviceId } : undefined, width: { ideal: 640 }, height: { ideal: 480 } },
    });
    const track = media.getVideoTracks()[0];
    track.addEventListener('ended', () => cameraGone());
    const video = $('camera-video');
    video.srcObject = media;
    await video.play().catch(() => {}); // shown only; classification does not depend on it
    await listCameras();
    camera.results = [];
    camera.stats = null;
    camera.latencyMs = null;
    resultTimes.length = 0;
    camera.classifier = await ImageClassifier.createFromOptions(
      optionsFor('LIVE_STREAM', { resultCallback: onLiveResult }),
    );
    camera.stream = camera.classifier.classifyStream(track);
    $('live-transport').textContent = camera.stream.transport;
    camera.stream.ended.then(
      (reason) => {
        if (reason === 'ended' && !userStopped) cameraGone();
      },
      (error) => {
        cameraMessage(`The camera stream failed: ${error.message}`);
        stopCamera();
      },
    );
    setCameraState('on');
  } catch (error) {
    console.debug(error);
    cameraMessage(CAMERA_ERRORS[error.name] ?? `The camera could not be started: ${error.message}`);
    await stopCamera();
  }
}

/** The track ended without the user asking: unplugged, turned off, or taken away. */
function cameraGone() {
  if (userStopped || camera.state === 'off') return;
  cameraMessage(CAMERA_GONE);
  stopCamera();
}

async function stopCamera() {
  userStopped = true;
  const { classifier, stream } = camera;
  camera.classifier = null;
  camera.stream = null;
  stream?.stop();
  for (const track of media?.getTracks() ?? []) track.stop();
  media = null;
  $('camera-video').srcObject = null;
  $('camera-overlay').replaceChildren();
  setCameraState('off');
  if (classifier) {
    await classifier.close().catch(() => {});
    camera.stats = classifier.liveStreamStats ?? camera.stats;
  }
  renderStats();
}

// --- video file ------------------------------------------------------------------------------

const video = live.video;
let videoFile = null;
let cancelVideo = false;
const SERIES_COLORS = ['#1f6feb', '#d1242f', '#1a7f37', '#bf8700', '#8250df'];
const TIMELINE_CLASSES = 5;

function videoMessage(text) {
  showPanelMessage('video-message', text);
}

function setVideoState(state) {
  video.state = state;
  $('video-run').disabled = state === 'running' || !videoFile;
  $('video-stop').disabled = state !== 'running';
  const exportable = state !== 'running' && video.results.length > 0;
  $('video-export-json').disabled = !exportable;
  $('video-export-csv').disabled = !exportable;
  document.body.dataset.video = state;
}

function seek(player, seconds) {
  return new Promise((resolve, reject) => {
    const done = () => {
      player.removeEventListener('seeked', done);
      player.removeEventListener('error', failed);
      resolve();
    };
    const failed = () => {
      player.removeEventListener('seeked', done);
      reject(new Error(player.error?.message || 'The video cannot be read.'));
    };
    player.addEventListener('seeked', done);
    player.addEventListener('error', failed, { once: true });
    player.currentTime = seconds;
  });
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The frame shown after seeking to `seconds`. Right after 'seeked' the element may still
 *  hold the previous frame: while the frame is not after `afterMs`, wait for the next one to
 *  be presented (for up to a second: a seek within the same frame presents nothing new). */
async function frameAt(player, seconds, afterMs) {
  const presented = () => new Promise((resolve) => player.requestVideoFrameCallback(resolve));
  let next = presented();
  await seek(player, seconds);
  let frame = new VideoFrame(player);
  for (let tries = 0; frame.timestamp / 1000 <= afterMs && tries < 20; tries++) {
    await Promise.race([next, delay(50)]);
    next = presented();
    frame.close();
    frame = new VideoFrame(player);
  }
  return frame;
}

function loadVideo(player, url) {
  return new Promise((resolve, reject) => {
    player.onloadeddata = () => resolve();
    player.onerror = () => reject(new Error(player.error?.message || 'not a video this browser can play'));
    player.src = url;
    player.load();
  });
}

/** Steps through the video frame by frame (seeking to just after each frame's end) and
 *  classifies every Nth frame with its media time (ms) as the timestamp. */
async function classifyVideo() {
  if (!videoFile || video.state === 'running') return;
  const every = Math.max(1, Math.floor(Number($('video-every').value) || 1));
  $('video-every').value = String(every);
  const player = $('video-player');
  cancelVideo = false;
  video.results = [];
  video.frames = 0;
  videoMessage('');
  setVideoState('running');
  let classifier;
  try {
    await loadVideo(player, URL.createObjectURL(videoFile));
    player.pause();
    classifier = await ImageClassifier.createFromOptions(optionsFor('VIDEO'));
    video.classifier = classifier;
    const duration = player.duration;
    let seconds = 0;
    let lastTimestamp = -1;
    let lastDrawn = 0;
    while (!cancelVideo) {
      const frame = await frameAt(player, seconds, lastTimestamp);
      const frameMs = frame.timestamp / 1000;
      const step = (frame.duration || 1e6 / 30) / 1e6;
      try {
        if (frameMs > lastTimestamp) {
          if (video.frames % every === 0) {
            const result = await classifier.classifyForVideo(frame, Math.round(frameMs));
            video.results.push(result);
          }
          video.frames += 1;
          lastTimestamp = frameMs;
          seconds = frameMs / 1000 + step + Math.min(0.001, step / 4);
        } else {
          seconds += step; // the seek did not reach a new frame: move on
        }
      } finally {
        frame.close();
      }
      $('video-progress').value = Math.min(1, seconds / duration);
      $('video-info').textContent = `${video.frames} frames · ${video.results.length} classified`;
      if (video.results.length - lastDrawn >= 10) {
        lastDrawn = video.results.length;
        drawTimeline(duration * 1000);
      }
      if (seconds >= duration) break;
    }
    drawTimeline(duration * 1000);
  } catch (error) {
    console.debug(error);
    videoMessage(`Cannot classify “${videoFile.name}”: ${error.message}`);
  } finally {
    video.classifier = null;
    await classifier?.close().catch(() => {});
    video.runs += 1;
    setVideoState('idle');
  }
}

/** The top classes' scores over time, as SVG polylines (a gap where a class is not among a
 *  frame's results). */
function drawTimeline(durationMs) {
  const svg = $('timeline');
  const width = 640;
  const height = 200;
  const pad = { left: 34, right: 8, top: 8, bottom: 22 };
  const peak = new Map(); // index -> {name, best}
  for (const result of video.results) {
    for (const category of result.classifications[0]?.categories ?? []) {
      const entry = peak.get(category.index) ?? { name: label(category), best: 0 };
      entry.best = Math.max(entry.best, category.score);
      peak.set(category.index, entry);
    }
  }
  const top = [...peak.entries()].sort((a, b) => b[1].best - a[1].best).slice(0, TIMELINE_CLASSES);
  const x = (ms) => pad.left + ((width - pad.left - pad.right) * ms) / Math.max(1, durationMs);
  const y = (score) => pad.top + (height - pad.top - pad.bottom) * (1 - score);
  const ns = 'http://www.w3.org/2000/svg';
  const element = (name, attributes, text) => {
    const node = document.createElementNS(ns, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const nodes = [];
  for (const score of [0, 0.5, 1]) {
    nodes.push(element('line', { x1: pad.left, x2: width - pad.right, y1: y(score), y2: y(score), class: 'grid' }));
    nodes.push(element('text', { x: pad.left - 4, y: y(score) + 4, 'text-anchor': 'end' }, score.toFixed(1)));
  }
  const seconds = durationMs / 1000;
  const tick = seconds > 20 ? 10 : seconds > 5 ? 2 : seconds > 2 ? 1 : 0.5;
  for (let t = 0; t <= seconds + 1e-9; t += tick) {
    nodes.push(element('text', { x: x(t * 1000), y: height - 6, 'text-anchor': 'middle' }, `${+t.toFixed(1)} s`));
  }
  top.forEach(([index], i) => {
    let segment = [];
    const flush = () => {
      if (segment.length) {
        nodes.push(element('polyline', { points: segment.join(' '), stroke: SERIES_COLORS[i], class: 'series', 'data-index': index }));
      }
      segment = [];
    };
    for (const result of video.results) {
      const category = result.classifications[0]?.categories.find((c) => c.index === index);
      if (category) segment.push(`${x(result.timestampMs).toFixed(1)},${y(category.score).toFixed(1)}`);
      else flush();
    }
    flush();
  });
  svg.replaceChildren(...nodes);
  $('timeline-legend').replaceChildren(
    ...top.map(([index, { name }], i) => {
      const item = document.createElement('li');
      item.style.setProperty('--color', SERIES_COLORS[i]);
      item.dataset.index = index;
      item.textContent = name;
      return item;
    }),
  );
}

function download(name, type, text) {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([text], { type }));
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

function exportBase() {
  return (videoFile?.name ?? 'video').replace(/\.[^.]+$/, '') + '.classifications';
}

export function resultsJson() {
  return JSON.stringify(
    { source: videoFile?.name ?? '', everyNthFrame: Number($('video-every').value), options: optionsFor('VIDEO'), frames: video.results },
    (_key, value) => (ArrayBuffer.isView(value) ? `(${value.byteLength} bytes)` : value), // a model opened from disk
    1,
  );
}

const csvField = (value) => (/[",\n]/.test(String(value)) ? `"${String(value).replaceAll('"', '""')}"` : String(value));

export function resultsCsv() {
  const rows = [['timestamp_ms', 'head_index', 'head_name', 'rank', 'index', 'category_name', 'display_name', 'score']];
  for (const result of video.results) {
    for (const head of result.classifications) {
      head.categories.forEach((c, rank) =>
        rows.push([result.timestampMs, head.headIndex, head.headName, rank + 1, c.index, c.categoryName, c.displayName, c.score]),
      );
    }
  }
  return rows.map((row) => row.map(csvField).join(',')).join('\n') + '\n';
}

// --- wiring ----------------------------------------------------------------------------------

/** Starts the panels; `options()` gives the form's JS API options. */
export function initLive({ options }) {
  formOptions = options;
  $('camera-start').addEventListener('click', startCamera);
  $('camera-stop').addEventListener('click', () => stopCamera());
  navigator.mediaDevices?.addEventListener?.('devicechange', () => listCameras().catch(() => {}));
  listCameras().catch(() => {});
  setCameraState('off');
  renderStats();

  $('video-file').addEventListener('change', (event) => {
    const [file] = event.target.files;
    event.target.value = '';
    if (!file) return;
    videoFile = file;
    video.file = file;
    $('video-info').textContent = file.name;
    video.done = classifyVideo();
  });
  $('video-run').addEventListener('click', () => {
    video.done = classifyVideo();
  });
  $('video-stop').addEventListener('click', () => {
    cancelVideo = true;
  });
  $('video-export-json').addEventListener('click', () => download(`${exportBase()}.json`, 'application/json', resultsJson()));
  $('video-export-csv').addEventListener('click', () => download(`${exportBase()}.csv`, 'text/csv', resultsCsv()));
  setVideoState('idle');

  // Options changed in the form apply to the running camera too (the model may reload).
  $('options').addEventListener('change', () => {
    camera.classifier?.setOptions(optionsFor('LIVE_STREAM', { resultCallback: onLiveResult })).catch(() => {});
  });
}
