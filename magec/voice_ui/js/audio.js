// Microphone capture (AudioWorklet), WAV encoding, playback and the realtime voice-events socket.

export class Mic {
  constructor() { this.ctx = null; this.listeners = new Set(); }
  get rate() { return this.ctx ? this.ctx.sampleRate : 0; }
  async start() {
    if (this.ctx) { if (this.ctx.state === 'suspended') await this.ctx.resume(); return; }
    if (!navigator.mediaDevices?.getUserMedia) throw new Error('This browser cannot use a microphone here (it needs HTTPS or localhost).');
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 } });
    this.ctx = new AudioContext();
    await this.ctx.audioWorklet.addModule('./js/capture.worklet.js');
    const source = this.ctx.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(this.ctx, 'magec-capture');
    this.node.port.onmessage = (e) => { for (const fn of this.listeners) fn(e.data); };
    source.connect(this.node);
    // keep the graph pulled without making any sound
    const mute = this.ctx.createGain(); mute.gain.value = 0;
    this.node.connect(mute).connect(this.ctx.destination);
    if (this.ctx.state === 'suspended') await this.ctx.resume();
  }
  onFrame(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }
  stop() {
    this.stream?.getTracks().forEach((t) => t.stop());
    this.ctx?.close();
    this.ctx = null;
  }
}

// 16-bit mono PCM WAV from float32 frames.
export function encodeWav(frames, rate) {
  const total = frames.reduce((n, f) => n + f.length, 0);
  const buf = new ArrayBuffer(44 + total * 2);
  const v = new DataView(buf);
  const str = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
  str(0, 'RIFF'); v.setUint32(4, 36 + total * 2, true); str(8, 'WAVE'); str(12, 'fmt ');
  v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, rate, true); v.setUint32(28, rate * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  str(36, 'data'); v.setUint32(40, total * 2, true);
  let o = 44;
  for (const f of frames) for (let i = 0; i < f.length; i++, o += 2) v.setInt16(o, Math.max(-1, Math.min(1, f[i])) * 32767, true);
  return new Blob([buf], { type: 'audio/wav' });
}

// Play encoded audio (mp3, wav, ogg...) through an AudioContext; resolves when it has finished.
let playing = null;
export async function play(ctx, data) {
  stopPlaying();
  const buffer = await ctx.decodeAudioData(data.slice(0));
  const src = ctx.createBufferSource();
  src.buffer = buffer;
  src.connect(ctx.destination);
  playing = src;
  return new Promise((resolve) => { src.onended = () => { if (playing === src) playing = null; resolve(buffer.duration); }; src.start(); });
}
export function stopPlaying() { if (playing) { try { playing.stop(); } catch { /* already ended */ } playing = null; } }

// WS /api/v1/voice/events (Magec's protocol). Reconnects with backoff; the token travels as a
// "bearer.<token>" subprotocol (browsers cannot set headers on a WebSocket).
export class VoiceEvents {
  constructor(handlers) { this.h = handlers; this.ws = null; this.rate = 0; this.closed = false; this.attempt = 0; this.capabilities = null; }
  connect(token) {
    this.closed = false; this.token = token;
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/voice/events`;
    const protocols = token ? ['magec.voice', `bearer.${token}`] : ['magec.voice'];
    const ws = new WebSocket(url, protocols);
    ws.binaryType = 'arraybuffer';
    this.ws = ws; this.rate = 0;
    ws.onmessage = (e) => {
      let msg; try { msg = JSON.parse(e.data); } catch { return; }
      if (msg.type === 'capabilities') { this.capabilities = msg.data; this.attempt = 0; this.h.onOpen?.(msg.data); }
      else if (msg.type === 'wakeword') this.h.onWakeword?.(msg.data?.model);
      else if (msg.type === 'speech_start') this.h.onSpeechStart?.();
      else if (msg.type === 'speech_end') this.h.onSpeechEnd?.();
      else if (msg.type === 'error') { this.refused = msg.data; this.h.onError?.(msg.data); }
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null; this.capabilities = null;
      this.h.onClose?.(e.code, this.refused);
      // 4401 unauthorised and 1008 policy: retrying will not help; 1013 busy: retry slowly
      if (this.closed || e.code === 4401 || e.code === 1008) return;
      const delay = Math.min(30000, 1000 * 2 ** this.attempt++) * (e.code === 1013 ? 5 : 1);
      this.timer = setTimeout(() => this.connect(this.token), delay);
    };
  }
  get ready() { return !!this.ws && this.ws.readyState === WebSocket.OPEN && !!this.capabilities; }
  send(frame, rate) {
    if (!this.ready) return;
    if (rate !== this.rate) { this.rate = rate; this.ws.send(JSON.stringify({ type: 'config', data: { sampleRate: rate } })); }
    this.ws.send(frame.buffer);
  }
  setModel(model) { if (this.ready) this.ws.send(JSON.stringify({ type: 'setModel', data: { model } })); }
  close() { this.closed = true; clearTimeout(this.timer); this.ws?.close(); this.ws = null; }
}
