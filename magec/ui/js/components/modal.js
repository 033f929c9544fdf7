// Modal dialog on top of the native <dialog> element (focus trap + Esc for free).
// <Modal v-model:open="x" title="..." wide> body <template #footer>buttons</template></Modal>
//
// Enter never saves by accident: a dialog opened from a keydown (Enter on a card or a button) focuses
// its first field before the same keystroke's keypress is dispatched, and a keypress of Enter in a
// field is the browser's implicit form submission. So until a fresh key goes DOWN inside the open
// dialog, keypresses are swallowed; after that, Enter submits only from one of the dialog's own text
// fields (not from a checkbox, a radio or a focused chip), never from elsewhere.
import { Icon } from './icon.js';

const TEXTUAL = /^(text|search|email|url|tel|password|number|date|time|datetime-local|month|week)$/;
// Elements whose Enter keypress is their own activation (click, toggle), not a form submission.
const ACTIVATES = new Set(['BUTTON', 'A', 'SUMMARY', 'TEXTAREA']);

// Installs the guard for an opened <dialog>; returns its remover.
function enterGuard(d) {
  let armed = false;
  const down = (e) => { if (d.contains(e.target) && !e.repeat) armed = true; };
  const press = (e) => {
    const t = e.target;
    if (!(t instanceof Element) || !d.contains(t)) return;
    if (!armed) { e.preventDefault(); return; }
    if (e.key !== 'Enter' || ACTIVATES.has(t.tagName)) return;
    const field = t.tagName === 'INPUT' && TEXTUAL.test(t.type || 'text') && t.form && d.contains(t.form);
    if (!field) e.preventDefault();
  };
  window.addEventListener('keydown', down, true);
  window.addEventListener('keypress', press, true);
  return () => { window.removeEventListener('keydown', down, true); window.removeEventListener('keypress', press, true); };
}

export const Modal = {
  name: 'Modal',
  components: { Icon },
  props: { open: Boolean, title: String, wide: Boolean, testid: String },
  emits: ['update:open', 'close'],
  template: `
  <dialog ref="dlg" class="modal" :class="{wide}" :data-testid="testid" @cancel.prevent="close" @mousedown.self="close">
    <div class="modal-box" v-if="open">
      <header class="modal-head">
        <h2>{{ title }}</h2>
        <button class="icon-btn" type="button" @click="close" aria-label="Close"><Icon name="x"/></button>
      </header>
      <div class="modal-body"><slot/></div>
      <footer class="modal-foot" v-if="$slots.footer"><slot name="footer"/></footer>
    </div>
  </dialog>`,
  watch: {
    open: { handler(v) { this.$nextTick(() => this.sync(v)); }, immediate: true },
  },
  mounted() { this.sync(this.open); },
  beforeUnmount() { if (this.$refs.dlg?.open) this.$refs.dlg.close(); this.unguard(); },
  methods: {
    unguard() { if (this.offGuard) { this.offGuard(); this.offGuard = null; } },
    sync(v) {
      const d = this.$refs.dlg;
      if (!d) return;
      if (v && !d.open) {
        this.unguard();
        this.offGuard = enterGuard(d);
        d.showModal();
        const first = d.querySelector('[autofocus], .modal-body input:not([type=hidden]):not([type=checkbox]):not([type=radio]), .modal-body select, .modal-body textarea');
        if (first) first.focus();
      } else if (!v && d.open) { d.close(); this.unguard(); }
    },
    close() { this.$emit('update:open', false); this.$emit('close'); },
  },
};
