// install.mjs: the Install button, shown only while the browser offers to install the app
// (Chromium's beforeinstallprompt, once the manifest and the service worker qualify it);
// hidden where installing is not offered (other browsers, or already installed).

const button = document.getElementById('install');
let offer = null;

addEventListener('beforeinstallprompt', (event) => {
  event.preventDefault(); // our button rather than the browser's own banner
  offer = event;
  button.hidden = false;
});

button.addEventListener('click', async () => {
  const shown = offer;
  if (!shown) return;
  offer = null; // an offer can be shown once
  button.hidden = true;
  await shown.prompt();
  const { outcome } = await shown.userChoice;
  button.dataset.outcome = outcome;
});

addEventListener('appinstalled', () => {
  offer = null;
  button.hidden = true;
});
