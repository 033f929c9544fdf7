// One-click offline demo (same resources as `magec serve --demo`): a Local backend, an agent with
// chat + speech-to-text + text-to-speech on it, and a SQLite long-term memory embedding with it.
// Idempotent by name; reports each step through onStep(text).
import { api } from './api.js';
import { loadAll } from './store.js';

export const DEMO = { backend: 'Local', agent: 'Local assistant', memory: 'Local memory' };

export async function setupDemo(onStep = () => {}) {
  const find = async (path, name) => (await api.get(path)).find((x) => x.name === name);
  onStep('Creating the Local backend…');
  const backend = (await find('/backends', DEMO.backend)) || (await api.post('/backends', { name: DEMO.backend, type: 'local' }));
  onStep('Creating the “Local assistant” agent (SmolLM2 chat, Whisper STT, Piper TTS)…');
  const agent = (await find('/agents', DEMO.agent)) || (await api.post('/agents', {
    name: DEMO.agent,
    description: 'Runs entirely on this machine: SmolLM2 chat, Whisper STT, Piper TTS.',
    llm: { backend: backend.id, model: 'smollm2' },
    transcription: { backend: backend.id, model: 'whisper-tiny.en' },
    tts: { backend: backend.id, model: 'piper', voice: 'en_US-joe-medium' },
  }));
  onStep('Creating the long-term memory (SQLite + MiniLM embeddings)…');
  const memory = (await find('/memory', DEMO.memory)) || (await api.post('/memory', {
    name: DEMO.memory, type: 'sqlite', category: 'longterm', config: {},
    embedding: { backend: backend.id, model: 'all-minilm-l6-v2' },
  }));
  const settings = await api.get('/settings');
  if (!settings.longTermProvider) {
    onStep('Turning long-term memory on…');
    await api.put('/settings', { ...settings, longTermProvider: memory.id });
  }
  onStep('Checking the local models…');
  let probe = null;
  try { probe = await api.post(`/backends/${backend.id}/test`, {}); } catch (e) { probe = { ok: false, error: e.message }; }
  await loadAll();
  return { backend, agent, memory, probe };
}
