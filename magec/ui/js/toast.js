// Toast notifications: toast.success('Saved'), toast.error(err), toast.info('...').
import { reactive } from 'vue';

export const toasts = reactive([]);
let seq = 0;

function push(kind, msg, ms = 4000) {
  const text = msg instanceof Error ? msg.message : String(msg);
  const t = { id: ++seq, kind, text };
  toasts.push(t);
  setTimeout(() => dismiss(t.id), kind === 'error' ? Math.max(ms, 7000) : ms);
}

export function dismiss(id) {
  const i = toasts.findIndex((t) => t.id === id);
  if (i >= 0) toasts.splice(i, 1);
}

export const toast = {
  success: (m) => push('success', m),
  error: (m) => push('error', m),
  info: (m) => push('info', m),
};
