// Browser voice helpers: record with MediaRecorder, transcribe and synthesise via the admin voice proxy.
import { raw } from './api.js';

export class Recorder {
  async start() {
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    this.chunks = [];
    this.rec = new MediaRecorder(this.stream);
    this.rec.ondataavailable = (e) => { if (e.data.size) this.chunks.push(e.data); };
    this.rec.start();
  }
  stop() {
    return new Promise((resolve) => {
      this.rec.onstop = () => {
        this.stream.getTracks().forEach((t) => t.stop());
        resolve(new Blob(this.chunks, { type: this.rec.mimeType || 'audio/webm' }));
      };
      this.rec.stop();
    });
  }
}

const qs = (spokesperson) => (spokesperson ? `?spokesperson=${encodeURIComponent(spokesperson)}` : '');

// agentId may be a flow id; spokesperson then picks which of its agents listens / speaks.
export async function transcribe(agentId, blob, spokesperson) {
  const ext = (blob.type.split('/')[1] || 'webm').split(';')[0];
  const form = new FormData();
  form.append('file', blob, `recording.${ext}`);
  const res = await raw('POST', `/voice/${agentId}/transcription${qs(spokesperson)}`, { form });
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
