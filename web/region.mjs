// The page's region of interest and rotation: the region drawn on the photo or typed in, a
// quarter turn either way, and a small picture of what the model is given. UI only: the
// worker does the real warp, with the region and rotation the page sends (app.mjs).

const $ = (id) => document.getElementById(id);
const ROI_FIELDS = ['left', 'top', 'right', 'bottom'];
const round = (x) => Math.round(x * 1000) / 1000;
const number = (text) => (text.trim() === '' ? undefined : Number(text));

let state; // the page's: {roi: {left, top, right, bottom} in [0, 1] of the unrotated image | null, rotation}
let preview; // the photo's <img>
let changed; // classifies again

/** A small picture of the region after rotation (display only). */
export function drawModelView() {
  const figure = $('model-view-figure');
  figure.hidden = !preview.naturalWidth || (!state.roi && !state.rotation);
  if (figure.hidden) return;
  const canvas = $('model-view');
  const context = canvas.getContext('2d');
  const { left, top, right, bottom } = state.roi ?? { left: 0, top: 0, right: 1, bottom: 1 };
  const w = preview.naturalWidth;
  const h = preview.naturalHeight;
  const size = canvas.width;
  context.save();
  context.clearRect(0, 0, size, size);
  context.translate(size / 2, size / 2);
  context.rotate((state.rotation * Math.PI) / 180);
  if (right > left && bottom > top) {
    context.drawImage(preview, left * w, top * h, (right - left) * w, (bottom - top) * h, -size / 2, -size / 2, size, size);
  }
  context.restore();
}

function syncRoiFields() {
  for (const side of ROI_FIELDS) $(`roi-${side}`).value = state.roi ? state.roi[side] : '';
  const box = $('roi-box');
  box.hidden = !state.roi;
  if (state.roi) {
    const { left, top, right, bottom } = state.roi;
    Object.assign(box.style, {
      left: `${left * 100}%`,
      top: `${top * 100}%`,
      width: `${Math.max(0, right - left) * 100}%`,
      height: `${Math.max(0, bottom - top) * 100}%`,
    });
  }
  drawModelView();
}

function showRotation() {
  $('rotation').textContent = `${state.rotation}°`;
  drawModelView();
}

/** No region, no rotation (a new photo). */
export function resetRegion() {
  state.roi = null;
  state.rotation = 0;
  syncRoiFields();
  showRotation();
}

function rotate(by) {
  state.rotation = (state.rotation + by) % 360;
  showRotation();
  changed();
}

/** Wires the controls: `state` is the page's (roi, rotation), `image` the photo's <img>,
 *  `onChange()` classifies again. */
export function initRegion({ state: pageState, image, onChange }) {
  state = pageState;
  preview = image;
  changed = onChange;
  for (const side of ROI_FIELDS) {
    $(`roi-${side}`).addEventListener('change', () => {
      const values = ROI_FIELDS.map((s) => number($(`roi-${s}`).value));
      if (values.every((v) => v === undefined)) state.roi = null;
      else {
        const [left = 0, top = 0, right = 1, bottom = 1] = values;
        state.roi = { left, top, right, bottom };
      }
      syncRoiFields();
      changed();
    });
  }
  $('roi-clear').addEventListener('click', () => {
    state.roi = null;
    syncRoiFields();
    changed();
  });

  const frame = $('frame');
  let dragStart = null;
  const pointFrom = (event) => {
    const rect = preview.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return { x: clamp((event.clientX - rect.left) / rect.width), y: clamp((event.clientY - rect.top) / rect.height) };
  };
  frame.addEventListener('pointerdown', (event) => {
    if (event.button !== 0) return;
    frame.setPointerCapture(event.pointerId);
    dragStart = pointFrom(event);
  });
  frame.addEventListener('pointermove', (event) => {
    if (!dragStart) return;
    const p = pointFrom(event);
    state.roi = {
      left: round(Math.min(dragStart.x, p.x)),
      top: round(Math.min(dragStart.y, p.y)),
      right: round(Math.max(dragStart.x, p.x)),
      bottom: round(Math.max(dragStart.y, p.y)),
    };
    syncRoiFields();
  });
  frame.addEventListener('pointerup', () => {
    if (!dragStart) return;
    dragStart = null;
    const roi = state.roi;
    if (roi && (roi.right - roi.left < 0.01 || roi.bottom - roi.top < 0.01)) {
      state.roi = null; // a click, not a drag
      syncRoiFields();
    }
    changed();
  });
  $('rotate-left').addEventListener('click', () => rotate(-90));
  $('rotate-right').addEventListener('click', () => rotate(90));
}
