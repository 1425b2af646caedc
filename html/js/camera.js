// Shared camera helpers for the course pages (classic script: defines window.courseCamera).
// getUserMedia only exists in a secure context (https://, http://localhost, http://127.0.0.1),
// so every failure is turned into a sentence that says what to do next.
(function () {
  'use strict';

  function explain(error) {
    const name = error && error.name;
    if (name === 'InsecureContextError') {
      return 'The camera needs a secure page: open it as http://localhost:8000/ on this computer, ' +
        'or run "python -m aiffel_lib.serve --https" and use the https:// address on your phone.';
    }
    if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') {
      return 'Camera permission was denied. Allow the camera for this site (the camera icon in the ' +
        'address bar) and reload the page. You can still choose an image file below.';
    }
    if (name === 'NotFoundError' || name === 'DevicesNotFoundError' || name === 'OverconstrainedError') {
      return 'No camera was found. Plug one in and reload, or choose an image file below.';
    }
    if (name === 'NotReadableError' || name === 'TrackStartError') {
      return 'The camera is busy in another program (a video call?). Close it and reload the page.';
    }
    return 'Could not start the camera: ' + (error && (error.message || name) || error) + '.';
  }

  /** Start the camera into <video>; resolves to the MediaStream, rejects with an Error whose
   *  .friendly property is the readable message. */
  async function start(video, constraints) {
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      const err = new Error('insecure context');
      err.name = 'InsecureContextError';
      err.friendly = explain(err);
      throw err;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia(
        constraints || { audio: false, video: { width: 640, height: 480, facingMode: 'user' } });
      video.srcObject = stream;
      window.stream = stream; // as in the course: reachable from the console
      await new Promise((resolve) => {
        if (video.readyState >= 2 && video.videoWidth) { resolve(); return; }
        video.addEventListener('loadeddata', () => resolve(), { once: true });
      });
      return stream;
    } catch (error) {
      if (!error.friendly) error.friendly = explain(error);
      throw error;
    }
  }

  /** Copy the current video frame into <canvas> at the video's own size. */
  function snapshot(video, canvas) {
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
    return canvas;
  }

  /** Show a message in an element; kind is 'info', 'ok' or 'error'. */
  function status(el, text, kind) {
    el.textContent = text;
    el.className = 'status ' + (kind || 'info');
  }

  window.courseCamera = { start: start, snapshot: snapshot, explain: explain, status: status };
})();
