// Modal dialog on top of the native <dialog> element (focus trap + Esc for free).
// <Modal v-model:open="x" title="..." wide> body <template #footer>buttons</template></Modal>
//
// Enter never saves by accident: a dialog opened from a keydown (Enter on a card or a button) focuses
// its first field before the same keystroke's keypress is dispatched, and a keypress of Enter in a
// field is the browser's implicit form submission. So until a fresh key goes DOWN inside the open
// dialog, keypresses are swallowed; after that, Enter submits only from one of the dialog's own text
// fields (not from a checkbox, a radio or a focused chip), never from elsewhere.
//
// Nothing typed is lost by accident: once the user has typed or picked anything in the dialog (an
// `input` event in its body, or — for a dialog passing its form as `track` — any change to that form
// since it opened, such as graph nodes or chips added by clicks alone), Esc, a click on the backdrop
// or the × first ask, in the dialog itself,
// whether to discard it ("Keep editing" focused; Esc again keeps editing). A dialog's own Cancel
// button, and closing after a save, set `open` directly and never ask.
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
  // guard: false for a dialog whose fields are not work to keep (the search palette)
  props: { open: Boolean, title: String, wide: Boolean, testid: String, guard: { type: Boolean, default: true },
    track: { type: Object, default: null } },
  emits: ['update:open', 'close'],
  template: `
  <dialog ref="dlg" class="modal" :class="{wide}" :data-testid="testid" @cancel.prevent="close" @mousedown.self="close">
    <div class="modal-box" v-if="open">
      <header class="modal-head">
        <h2>{{ title }}</h2>
        <button class="icon-btn" type="button" @click="close" aria-label="Close"><Icon name="x"/></button>
      </header>
      <div class="modal-body" @input="dirty = guard"><slot/></div>
      <div class="banner warn modal-discard" v-if="confirming" role="alert" data-testid="discard-changes">
        <span>Discard what you changed in this dialog?</span><span class="spacer" style="flex:1"></span>
        <button class="btn ghost sm" type="button" ref="keep" @click="confirming = false">Keep editing</button>
        <button class="btn danger sm" type="button" @click="discard">Discard</button>
      </div>
      <footer class="modal-foot" v-if="$slots.footer"><slot name="footer"/></footer>
    </div>
  </dialog>`,
  data() { return { dirty: false, confirming: false }; },
  watch: {
    open: { handler(v) { if (v) { this.dirty = false; this.confirming = false; } this.$nextTick(() => this.sync(v)); }, immediate: true },
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
        // the form as it opened, once its content has rendered (steps fill their defaults as they mount)
        this.snapshot = null;
        this.$nextTick(() => { this.snapshot = this.track ? JSON.stringify(this.track) : null; });
      } else if (!v && d.open) { d.close(); this.unguard(); }
    },
    // Esc, the backdrop and × (not the dialogs' own Cancel): ask first when something was changed
    close() {
      if (this.confirming) { this.confirming = false; return; }  // Esc on the question: keep editing
      const changed = this.dirty || (this.guard && this.snapshot !== null && JSON.stringify(this.track) !== this.snapshot);
      if (changed) { this.confirming = true; this.$nextTick(() => this.$refs.keep?.focus()); return; }
      this.discard();
    },
    discard() { this.confirming = false; this.$emit('update:open', false); this.$emit('close'); },
  },
};
