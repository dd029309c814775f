// camvault's only script: fills the setup token from the link's fragment,
// asks before destructive actions, copies one-time secrets, and runs the
// passkey ceremonies through the JSON API. No inline script is allowed by
// the Content-Security-Policy, so everything is wired here.
"use strict";

(function () {
  // The setup token travels in the fragment so that it never reaches logs
  // or Referer headers; the form posts it.
  const setupToken = document.getElementById("setup_token");
  if (setupToken && location.hash.length > 1) {
    setupToken.value = decodeURIComponent(location.hash.slice(1));
  }

  // One-time sign-in links carry their token in the fragment too; the
  // form posts it on its own.
  const loginToken = document.getElementById("login_token");
  if (loginToken && location.hash.length > 1) {
    loginToken.value = decodeURIComponent(location.hash.slice(1));
    history.replaceState(null, "", location.pathname);
    document.getElementById("login-link-form").submit();
  }

  // The claim page: the QR code carries the claim code in the fragment;
  // the form posts to the chosen home.
  const claimCode = document.getElementById("claim_code");
  if (claimCode && location.hash.length > 1) {
    claimCode.value = decodeURIComponent(location.hash.slice(1));
  }
  const claimForm = document.getElementById("claim-form");
  if (claimForm) {
    const home = document.getElementById("claim-home");
    const target = function () {
      claimForm.action = home.dataset.actionTemplate.replace("{home}", encodeURIComponent(home.value));
    };
    home.addEventListener("change", target);
    target();
  }

  document.addEventListener("click", function (ev) {
    const el = ev.target.closest("[data-confirm]");
    if (el && !window.confirm(el.dataset.confirm)) {
      ev.preventDefault();
    }
    const copy = ev.target.closest("[data-copy]");
    if (copy) {
      const input = document.getElementById(copy.dataset.copy);
      input.select();
      if (navigator.clipboard) {
        navigator.clipboard.writeText(input.value);
      }
      copy.textContent = "Copied";
    }
  });

  // base64url <-> ArrayBuffer, for browsers without the JSON helpers.
  function fromB64(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toB64(buf) {
    const bytes = new Uint8Array(buf);
    let bin = "";
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function creationOptions(pk) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(pk);
    }
    pk.challenge = fromB64(pk.challenge);
    pk.user.id = fromB64(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = fromB64(c.id); });
    return pk;
  }
  function requestOptions(pk) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(pk);
    }
    pk.challenge = fromB64(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = fromB64(c.id); });
    return pk;
  }
  function credentialJSON(cred) {
    if (cred.toJSON) return cred.toJSON();
    const r = cred.response;
    const out = { id: cred.id, rawId: toB64(cred.rawId), type: cred.type, response: { clientDataJSON: toB64(r.clientDataJSON) } };
    if (r.attestationObject) out.response.attestationObject = toB64(r.attestationObject);
    if (r.authenticatorData) out.response.authenticatorData = toB64(r.authenticatorData);
    if (r.signature) out.response.signature = toB64(r.signature);
    if (r.userHandle) out.response.userHandle = toB64(r.userHandle);
    return out;
  }
  async function post(url, body) {
    const res = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    const text = await res.text();
    const data = text ? JSON.parse(text) : {};
    if (!res.ok) {
      throw new Error((data.error && data.error.message) || "request failed");
    }
    return data;
  }
  function status(msg) {
    const el = document.getElementById("passkey-status");
    if (el) {
      el.textContent = msg;
      el.hidden = !msg;
    }
  }
  function supported() {
    if (!window.PublicKeyCredential) {
      status("This browser does not support passkeys.");
      return false;
    }
    return true;
  }

  // Live views: WebRTC (WHEP) first; when the browser has no WebRTC, the
  // exchange fails or no picture comes within a few seconds, LL-HLS
  // (natively, or through hls.js, loaded only then). "?transport=hls"
  // on the page forces LL-HLS. Each try asks the API for its own
  // single-use stream URL.
  const forced = new URLSearchParams(location.search).get("transport");
  function ticket(video, protocol) {
    return post("/api/v1/cameras/" + encodeURIComponent(video.dataset.camera) + "/streams", { protocol: protocol });
  }
  function playing(video, ms) {
    return new Promise(function (resolve) {
      const t0 = video.currentTime;
      const done = setTimeout(function () { resolve(video.currentTime > t0); }, ms);
      video.addEventListener("timeupdate", function check() {
        if (video.currentTime > t0) {
          clearTimeout(done);
          video.removeEventListener("timeupdate", check);
          resolve(true);
        }
      });
    });
  }
  async function startWebRTC(video, say, ended) {
    if (!window.RTCPeerConnection) throw new Error("this browser has no WebRTC");
    const t = await ticket(video, "webrtc");
    const pc = new RTCPeerConnection();
    let live = false;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.ontrack = function (ev) {
      video.srcObject = ev.streams[0] || new MediaStream([ev.track]);
    };
    pc.onconnectionstatechange = function () {
      const s = pc.connectionState;
      if (live && (s === "failed" || s === "closed" || s === "disconnected")) {
        live = false;
        pc.close();
        ended("");
      }
    };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise(function (resolve) {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange", function () {
        if (pc.iceGatheringState === "complete") resolve();
      });
      setTimeout(resolve, 3000);
    });
    const res = await fetch(t.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/sdp" },
      body: pc.localDescription.sdp,
    });
    if (res.status !== 201) {
      pc.close();
      const err = await res.json().catch(function () { return {}; });
      throw new Error((err.error && err.error.message) || "the server refused the stream");
    }
    await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
    say("Waiting for video…");
    if (!(await playing(video, 8000))) {
      pc.close();
      video.srcObject = null;
      throw new Error("no picture over WebRTC");
    }
    live = true;
    return function () { live = false; pc.close(); };
  }
  let hlsLoaded = null;
  function loadHls() {
    if (window.Hls) return Promise.resolve();
    if (!hlsLoaded) {
      hlsLoaded = new Promise(function (resolve, reject) {
        const meta = document.querySelector('meta[name="camvault-hls"]');
        const s = document.createElement("script");
        s.src = meta ? meta.content : "/static/hls.light.min.js";
        s.onload = resolve;
        s.onerror = function () { reject(new Error("could not load the HLS player")); };
        document.head.appendChild(s);
      });
    }
    return hlsLoaded;
  }
  // afterStart returns ended, silenced until the returned function's
  // start is called: a stream that fails before it plays is not "ended",
  // its start fails.
  function afterStart(ended) {
    let started = false;
    const f = function (why) { if (started) ended(why); };
    f.start = function () { started = true; };
    return f;
  }
  async function startHLS(video, say, ended) {
    // hls.js wherever Media Source Extensions exist (some browsers claim
    // native HLS but cannot play LL-HLS); native HLS otherwise (iOS).
    const mse = window.MediaSource || window.ManagedMediaSource;
    if (mse) await loadHls();
    const t = await ticket(video, "hls");
    let stop = function () {};
    if (!window.Hls || !window.Hls.isSupported()) {
      if (!video.canPlayType("application/vnd.apple.mpegurl")) throw new Error("this browser can play neither WebRTC nor HLS");
      video.src = t.url;
      stop = function () { video.removeAttribute("src"); video.load(); };
    } else {
      // No worker: the CSP allows no blob: scripts.
      const hls = new window.Hls({ enableWorker: false, lowLatencyMode: true });
      hls.on(window.Hls.Events.ERROR, function (_, data) {
        video.dataset.hlsError = data.details || "error";
        if (data.fatal) {
          hls.destroy();
          ended(data.details || "error");
        }
      });
      ended = afterStart(ended);
      hls.loadSource(t.url);
      hls.attachMedia(video);
      stop = function () { hls.destroy(); };
    }
    video.play().catch(function () {});
    say("Waiting for video…");
    if (!(await playing(video, 15000))) throw new Error("no picture over LL-HLS");
    if (ended.start) ended.start();
    return stop;
  }
  // A live stream that ends (its server node drained or died, a network
  // blip) is asked for again, a few times with a growing pause (3.75 s in
  // all: a camera whose node died is back at another within about a
  // second), through the same endpoint as the first time: a viewer whose
  // access ended is refused there and told that the stream ended.
  const liveRetries = 5;
  async function startLive(video, status, retry) {
    retry = retry || 0;
    const say = function (msg) { if (status) status.textContent = msg; };
    const transport = document.getElementById(video.dataset.transport || "");
    const via = function (name) {
      if (transport) transport.textContent = name;
      video.dataset.playing = name;
      say("Live");
    };
    let over = false;
    let tries = retry;
    const ended = function (why) {
      if (over) return;
      over = true;
      const detail = why ? " (" + why + ")" : "";
      if (tries >= liveRetries) {
        say("The stream ended" + detail + ". Reload to watch again.");
        return;
      }
      say("The stream ended" + detail + "; asking for it again…");
      video.dataset.restarts = String(Number(video.dataset.restarts || 0) + 1);
      setTimeout(function () { startLive(video, status, tries + 1); }, 250 * (tries + 1));
    };
    // A picture that stops for a few seconds while the page is seen is
    // an ended stream too, whatever the transport says (or does not).
    // Frames shown are counted where the browser tells (a WebRTC video's
    // clock runs on without frames); elsewhere its time must advance.
    const stallWatch = function (stop) {
      let last = video.currentTime, still = 0, frames = 0, seen = 0;
      const counting = typeof video.requestVideoFrameCallback === "function";
      const count = function () {
        frames++;
        if (!over) video.requestVideoFrameCallback(count);
      };
      if (counting) video.requestVideoFrameCallback(count);
      const timer = setInterval(function () {
        if (over) return clearInterval(timer);
        const moved = counting ? frames !== seen : video.currentTime !== last;
        last = video.currentTime;
        seen = frames;
        if (document.visibilityState !== "visible" || moved) {
          still = 0;
          return;
        }
        if (++still >= 3) {
          clearInterval(timer);
          stop();
          ended("no picture");
        }
      }, 1000);
    };
    const failed = function (msg) {
      if (retry > 0 && retry < liveRetries) {
        // Asked again too soon (the camera is not back yet): again.
        say("The stream ended (" + msg + "); asking for it again…");
        setTimeout(function () { startLive(video, status, retry + 1); }, 250 * (retry + 1));
        return;
      }
      say(retry > 0 ? "The stream ended (" + msg + "). Reload to watch again." : "No live video: " + msg);
    };
    if (forced !== "hls") {
      try {
        const stop = await startWebRTC(video, say, ended);
        tries = 0; // it plays: a later end gets every retry again
        via("WebRTC");
        stallWatch(stop);
        return;
      } catch (e) {
        say("WebRTC did not work (" + e.message + "); trying LL-HLS…");
      }
    }
    try {
      const stop = await startHLS(video, say, ended);
      tries = 0;
      via("LL-HLS");
      stallWatch(stop);
    } catch (e) {
      failed(e.message);
    }
  }
  document.querySelectorAll("video[data-camera]").forEach(function (video) {
    const status = video.dataset.status ? document.getElementById(video.dataset.status) : null;
    startLive(video, status);
  });

  // Recordings: a day's timeline of spans and thumbnails; a click plays
  // from that instant through the HLS VOD playlist; export one minute.
  const recordings = document.querySelector("[data-recordings]");
  if (recordings) timeline(recordings);

  function timeline(section) {
    const camera = section.dataset.recordings;
    const base = "/api/v1/cameras/" + encodeURIComponent(camera) + "/recordings";
    const dayInput = document.getElementById("rec-day");
    const bar = document.getElementById("timeline");
    const cursor = document.getElementById("timeline-cursor");
    const thumbs = document.getElementById("thumbs");
    const summary = document.getElementById("rec-summary");
    const video = document.getElementById("playback");
    const say = function (msg) { document.getElementById("playback-status").textContent = msg; };
    const exportButton = document.getElementById("export-button");
    const DAY = 24 * 3600 * 1000;
    let dayStart = null, chosen = null, hls = null;
    const pad = function (n) { return String(n).padStart(2, "0"); };
    const clock = function (t) { return pad(t.getHours()) + ":" + pad(t.getMinutes()) + ":" + pad(t.getSeconds()); };
    const query = function (from, to) {
      return "?since=" + encodeURIComponent(from.toISOString()) + "&until=" + encodeURIComponent(to.toISOString());
    };
    const pct = function (t) { return Math.max(0, Math.min(100, (t - dayStart) / DAY * 100)); };
    async function getJSON(url) {
      const res = await fetch(url, { credentials: "same-origin" });
      if (!res.ok) {
        const data = await res.json().catch(function () { return {}; });
        throw new Error((data.error && data.error.message) || res.statusText);
      }
      return res.json();
    }
    async function load() {
      const d = dayInput.value ? new Date(dayInput.value + "T00:00:00") : new Date();
      d.setHours(0, 0, 0, 0);
      dayStart = d;
      const end = new Date(d.getTime() + DAY);
      bar.querySelectorAll(".span").forEach(function (el) { el.remove(); });
      thumbs.textContent = "";
      try {
        const list = await getJSON(base + query(d, end));
        let total = 0;
        list.spans.forEach(function (sp) {
          const a = new Date(sp.start), b = new Date(sp.end);
          total += b - a;
          const el = document.createElement("div");
          el.className = "span";
          el.style.left = pct(a) + "%";
          el.style.width = Math.max(0.05, pct(b) - pct(a)) + "%";
          el.title = clock(a) + "–" + clock(b);
          bar.appendChild(el);
        });
        summary.textContent = list.spans.length ? Math.round(total / 60000) + " min recorded in " + list.spans.length + " span(s)" : "Nothing recorded this day.";
        section.dataset.spans = String(list.spans.length);
        const stills = await getJSON(base + "/thumbnails" + query(d, end));
        stills.forEach(function (t) {
          const img = document.createElement("img");
          img.src = t.url;
          img.alt = "Still at " + clock(new Date(t.at));
          img.title = clock(new Date(t.at));
          img.style.left = pct(new Date(t.at)) + "%";
          img.addEventListener("click", function () { play(new Date(t.at)); });
          thumbs.appendChild(img);
        });
      } catch (e) {
        summary.textContent = "Recordings are not available: " + e.message;
      }
    }
    async function play(at) {
      chosen = at;
      cursor.hidden = false;
      cursor.style.left = pct(at) + "%";
      if (exportButton) exportButton.disabled = false;
      const end = new Date(dayStart.getTime() + DAY);
      const url = base + "/playlist.m3u8" + query(at, end);
      let offset = 0;
      try {
        const res = await fetch(url, { credentials: "same-origin" });
        if (!res.ok) throw new Error("the playlist answered " + res.status);
        const text = await res.text();
        const m = text.match(/#EXT-X-PROGRAM-DATE-TIME:(\S+)/);
        if (!m) { say("Nothing recorded from " + clock(at) + "."); return; }
        const first = new Date(m[1]);
        if (first > at) {
          // A click in a gap (a pixel of the day's bar is minutes long)
          // plays from the next recording.
          at = chosen = first;
          cursor.style.left = pct(at) + "%";
        }
        offset = Math.max(0, (at - first) / 1000);
      } catch (e) {
        say("Playback failed: " + e.message);
        return;
      }
      video.hidden = false;
      if (hls) { hls.destroy(); hls = null; }
      const mse = window.MediaSource || window.ManagedMediaSource;
      if (mse) await loadHls().catch(function () {});
      if (window.Hls && window.Hls.isSupported()) {
        hls = new window.Hls({ enableWorker: false, startPosition: offset });
        hls.on(window.Hls.Events.ERROR, function (_, data) {
          video.dataset.hlsError = data.details || "error";
          if (data.fatal) say("Playback stopped (" + (data.details || "error") + ").");
        });
        hls.loadSource(url);
        hls.attachMedia(video);
      } else {
        video.src = url;
        video.addEventListener("loadedmetadata", function () { video.currentTime = offset; }, { once: true });
      }
      video.play().catch(function () {});
      say("Playing from " + clock(at) + ".");
      video.dataset.from = at.toISOString();
    }
    bar.addEventListener("click", function (ev) {
      const r = bar.getBoundingClientRect();
      play(new Date(dayStart.getTime() + (ev.clientX - r.left) / r.width * DAY));
    });
    if (exportButton) {
      exportButton.addEventListener("click", async function () {
        if (!chosen) return;
        const progress = document.getElementById("export-progress");
        const link = document.getElementById("export-link");
        exportButton.disabled = true;
        link.hidden = true;
        progress.hidden = false;
        progress.value = 0;
        try {
          let x = await post("/api/v1/cameras/" + encodeURIComponent(camera) + "/exports",
            { since: chosen.toISOString(), until: new Date(chosen.getTime() + 60000).toISOString() });
          while (x.status === "running") {
            progress.value = x.progress;
            await new Promise(function (r) { setTimeout(r, 500); });
            x = await getJSON("/api/v1/cameras/" + encodeURIComponent(camera) + "/exports/" + encodeURIComponent(x.id));
          }
          if (x.status !== "done") throw new Error("the export failed");
          progress.value = 1;
          link.href = x.download_url;
          link.hidden = false;
        } catch (e) {
          say("Export failed: " + e.message);
        } finally {
          exportButton.disabled = false;
        }
      });
    }
    // A former camera's page opens on the day it left the home.
    const today = section.dataset.day ? new Date(section.dataset.day) : new Date();
    dayInput.value = today.getFullYear() + "-" + pad(today.getMonth() + 1) + "-" + pad(today.getDate());
    dayInput.addEventListener("change", load);
    load();
  }

  const add = document.getElementById("passkey-add");
  if (add) {
    add.addEventListener("click", async function () {
      if (!supported()) return;
      status("");
      try {
        // Adding a credential needs the password again (a stolen
        // session alone must not add the thief's passkey).
        const password = document.getElementById("passkey-password");
        if (!password.value) {
          status("Enter your password to add a passkey.");
          password.focus();
          return;
        }
        await post("/api/v1/me/reauth", { password: password.value });
        password.value = "";
        const begin = await post("/api/v1/me/passkeys/begin");
        const cred = await navigator.credentials.create({ publicKey: creationOptions(begin.options.publicKey) });
        const name = (document.getElementById("passkey-name").value || "Passkey").trim();
        await post("/api/v1/me/passkeys/finish", { ceremony: begin.ceremony, name: name, credential: credentialJSON(cred) });
        location.reload();
      } catch (e) {
        status("Could not add the passkey: " + e.message);
      }
    });
  }

  const login = document.getElementById("passkey-login");
  if (login) {
    login.addEventListener("click", async function () {
      if (!supported()) return;
      status("");
      try {
        const begin = await post("/api/v1/login/passkey/begin");
        const cred = await navigator.credentials.get({ publicKey: requestOptions(begin.options.publicKey) });
        await post("/api/v1/login/passkey/finish", { ceremony: begin.ceremony, credential: credentialJSON(cred) });
        location.assign(login.dataset.next || "/homes");
      } catch (e) {
        status("Could not sign in with a passkey: " + e.message);
      }
    });
  }
})();
