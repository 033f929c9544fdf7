// Browser voice helpers: record with MediaRecorder (with a live input level for a meter), transcribe
// and synthesise via the admin voice proxy.
import { raw } from './api.js';

// One recording: start() asks for the microphone; level() is the current input level 0..1 (RMS of
// the last ~20 ms, scaled so speech fills most of a meter); stop() resolves the audio Blob; cancel()
// releases the microphone and throws the audio away.
export class Recorder {
  async start() {
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    this.chunks = [];
    this.rec = new MediaRecorder(this.stream);
    this.rec.ondataavailable = (e) => { if (e.data.size) this.chunks.push(e.data); };
    this.rec.start();
    this.startedAt = performance.now();
    try { // the meter is a nicety: a browser without Web Audio still records
      const AC = window.AudioContext || window.webkitAudioContext;
      this.ctx = new AC();
      if (this.ctx.state === 'suspended') await this.ctx.resume().catch(() => {});
      this.analyser = this.ctx.createAnalyser();
      this.analyser.fftSize = 1024;
      this.ctx.createMediaStreamSource(this.stream).connect(this.analyser);
      this.buf = new Float32Array(this.analyser.fftSize);
    } catch { this.analyser = null; }
  }
  elapsed() { return this.startedAt ? performance.now() - this.startedAt : 0; }
  level() {
    if (!this.analyser) return 0;
    this.analyser.getFloatTimeDomainData(this.buf);
    let sum = 0;
    for (const v of this.buf) sum += v * v;
    return Math.min(1, Math.sqrt(sum / this.buf.length) * 4);
  }
  release() {
    this.stream?.getTracks().forEach((t) => t.stop());
    this.ctx?.close().catch(() => {});
    this.ctx = null; this.analyser = null;
  }
  stop() {
    return new Promise((resolve) => {
      this.rec.onstop = () => {
        this.release();
        resolve(new Blob(this.chunks, { type: this.rec.mimeType || 'audio/webm' }));
      };
      this.rec.stop();
    });
  }
  cancel() {
    if (this.rec && this.rec.state !== 'inactive') { this.rec.onstop = null; this.rec.stop(); }
    this.chunks = [];
    this.release();
  }
}

const qs = (spokesperson) => (spokesperson ? `?spokesperson=${encodeURIComponent(spokesperson)}` : '');

// agentId may be a flow id; spokesperson then picks which of its agents listens / speaks.
// signal (optional) aborts the upload, e.g. when the user cancels while it is transcribing.
export async function transcribe(agentId, blob, spokesperson, signal) {
  const ext = (blob.type.split('/')[1] || 'webm').split(';')[0];
  const form = new FormData();
  form.append('file', blob, `recording.${ext}`);
  const res = await raw('POST', `/voice/${agentId}/transcription${qs(spokesperson)}`, { form, signal });
  return (await res.json()).text || '';
}

let current = null;
export async function speak(agentId, text, spokesperson) {
  if (current) { current.pause(); current = null; }
  const res = await raw('POST', `/voice/${agentId}/speech${qs(spokesperson)}`, { body: { input: text } });
  const url = URL.createObjectURL(await res.blob());
  current = new Audio(url);
  current.onended = () => URL.revokeObjectURL(url);
  try {
    await current.play();
  } catch (e) {
    URL.revokeObjectURL(url);
    throw new Error(e.name === 'NotSupportedError' ? 'this browser cannot play the audio format the backend returned' : e.message);
  }
  return current;
}
export function stopSpeaking() { if (current) { current.pause(); current = null; } }
