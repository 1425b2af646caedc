// Loading TensorFlow.js and starting a backend, shared by the course pages (classic script:
// defines window.courseTf). Libraries come from html/vendor/ (copied from npm by `make setup`).
//
// Two ways to get tfjs on a page, never both: face-api.js bundles its own tfjs, and a second copy
// on the same page registers every kernel twice and breaks model loading ("Variable ... was already
// registered").
//   'tfjs'     vendor/tf.min.js + vendor/tf-backend-wasm.min.js -> window.tf
//   'face-api' vendor/face-api.js, which bundles tfjs 4.22 and its wasm backend -> faceapi.tf
(function () {
  'use strict';

  const BACKENDS = ['wasm', 'webgl', 'cpu'];
  const SETUP_HINT = 'Run `make setup` (or `bash scripts/setup.sh`), which copies TensorFlow.js and face-api ' +
    'from npm into html/vendor/, then reload.';

  /** Add <script src> to the page; rejects with an Error naming the file and how to get it. */
  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = src;
      s.onload = resolve;
      s.onerror = () => reject(Object.assign(new Error(`${src} did not load: html/vendor/ is missing or ` +
        `incomplete. ${SETUP_HINT}`), { kind: 'setup', src: src }));
      document.head.appendChild(s);
    });
  }

  /** Load tfjs ('tfjs' or 'face-api', see above). Resolves to {tf, backends}: the backends it can try. */
  async function load(runtime) {
    if (runtime === 'face-api') {
      await loadScript('vendor/face-api.js');
      return { tf: window.faceapi.tf, backends: BACKENDS.slice() };
    }
    if (runtime !== 'tfjs') throw new Error(`unknown runtime "${runtime}": use tfjs or face-api`);
    await loadScript('vendor/tf.min.js');
    try {
      await loadScript('vendor/tf-backend-wasm.min.js');
      return { tf: window.tf, backends: BACKENDS.slice() };
    } catch (error) {
      return { tf: window.tf, backends: ['webgl', 'cpu'] }; // no wasm backend script: the others still work
    }
  }

  /** Start backend `name` and prove it computes (1² + 2² + 3² = 14); false if it cannot. */
  async function tryBackend(tf, name) {
    try {
      if (name === 'wasm') {
        // The .wasm binaries sit next to the scripts; the path must be set before the backend starts.
        const setPaths = (tf.wasm && tf.wasm.setWasmPaths) || tf.setWasmPaths;
        setPaths(new URL('vendor/', location.href).href);
      }
      if (!(await tf.setBackend(name))) return false; // resolves to false (no exception) when it cannot start
      await tf.ready();
      if (tf.getBackend() !== name) return false;
      const check = tf.tidy(() => tf.tensor1d([1, 2, 3]).square().sum());
      const value = (await check.data())[0];
      check.dispose();
      return value === 14;
    } catch (error) {
      console.warn(`tfjs backend ${name} failed:`, error);
      return false;
    }
  }

  /** 'wasm + SIMD' and the like: what actually runs. */
  async function describe(tf, name) {
    if (name !== 'wasm') return name;
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    return `wasm${simd ? ' + SIMD' : ''}${threads ? ' + threads' : ''}`;
  }

  /**
   * Start the first backend of `order` that works. Resolves to {name, detail, fellBack}
   * (fellBack: not order[0]); rejects naming every backend tried.
   */
  async function startBackend(tf, order) {
    const unknown = order.filter((b) => !BACKENDS.includes(b));
    if (unknown.length) throw new Error(`unknown backend "${unknown[0]}": use ${BACKENDS.join(', ')}`);
    for (const name of order) {
      if (await tryBackend(tf, name)) {
        return { name: name, detail: await describe(tf, name), fellBack: name !== order[0] };
      }
    }
    throw new Error(`No TensorFlow.js backend could start in this browser (tried ${order.join(', ')}).`);
  }

  /** `wanted` first, then the other available backends in the usual order (wasm, webgl, cpu). */
  function preferring(wanted, available) {
    const list = available || BACKENDS;
    return list.includes(wanted) ? [wanted].concat(list.filter((b) => b !== wanted)) : list.slice();
  }

  /** fetch() past the browser cache (a model just re-exported must not come from it); null on a network error. */
  async function fetchFresh(url) {
    try {
      return await fetch(url, { cache: 'no-store' });
    } catch (error) {
      return null;
    }
  }

  window.courseTf = {
    BACKENDS: BACKENDS, loadScript: loadScript, load: load, tryBackend: tryBackend, startBackend: startBackend,
    preferring: preferring, fetchFresh: fetchFresh,
  };
})();
