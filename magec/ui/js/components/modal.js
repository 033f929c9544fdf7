// Modal dialog on top of the native <dialog> element (focus trap + Esc for free).
// <Modal v-model:open="x" title="..." wide> body <template #footer>buttons</template></Modal>
import { Icon } from './icon.js';

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
  beforeUnmount() { if (this.$refs.dlg?.open) this.$refs.dlg.close(); },
  methods: {
    sync(v) {
      const d = this.$refs.dlg;
      if (!d) return;
      if (v && !d.open) {
        d.showModal();
        const first = d.querySelector('[autofocus], .modal-body input:not([type=hidden]):not([type=checkbox]):not([type=radio]), .modal-body select, .modal-body textarea');
        if (first) first.focus();
      } else if (!v && d.open) d.close();
    },
    close() { this.$emit('update:open', false); this.$emit('close'); },
  },
};
