// Mixin shared by entity pages: "n" shortcut, ?edit=<id> deep links, delete with reference check,
// the card order (sortable).
// The page must have a dialog component with ref="dlg" exposing show(item?).
import { store, load, PATHS } from '../store.js';
import { route, clearParams, onAction } from '../router.js';
import { confirmDelete } from './confirm.js';
import { sortable } from './common.js';

export function entityPage(kind, label, alsoReload = []) {
  return {
    mixins: [sortable(kind)],
    data() { return { s: store, route, filter: '' }; },
    mounted() { this.offNew = onAction('new', () => this.$refs.dlg.show()); this.openFromRoute(); },
    unmounted() { this.offNew(); },
    watch: {
      'route.params.edit'() { this.openFromRoute(); },
      [`s.loaded.${kind}`]() { this.openFromRoute(); },
    },
    methods: {
      openFromRoute() {
        const id = route.params.edit;
        if (!id || !store.loaded[kind]) return;
        const item = store[kind].find((x) => x.id === id);
        if (item) this.$refs.dlg.show(item);
        clearParams();
      },
      async remove(item) {
        const path = `${PATHS[kind] || '/' + kind}/${item.id}`;
        if (await confirmDelete({ kind: label, name: item.name, path })) await Promise.all([kind, ...alsoReload].map(load));
      },
    },
  };
}
