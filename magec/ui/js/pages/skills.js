// Skills: inline skills (instructions + reference files, inlined into agents' instructions) and
// SKILL.md packages (uploaded as SKILL.md / .zip / .tar.gz, reached through ADK's skill tools).
// Routes (docs/skills.md): CRUD on /skills, /skills/{id}/references[/{file}], /skills/upload, /skills/{id}/download.
import { api, raw } from '../api.js';
import { store, load } from '../store.js';
import { toast } from '../toast.js';
import { Icon } from '../components/icon.js';
import { Modal } from '../components/modal.js';
import { PageHeader, EmptyState, Skeleton, ErrorBanner, matches } from '../components/common.js';
import { entityPage } from '../components/entity-page.js';

export function fmtSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

// Saves a response body as a file (the download routes need the admin Authorization header).
async function download(path, name) {
  const res = await raw('GET', path);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url; a.download = name;
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function uploadFile(path, file) {
  const form = new FormData();
  form.append('file', file);
  const res = await raw('POST', path, { form });
  return res.json();
}

const SkillDialog = {
  name: 'SkillDialog',
  components: { Modal, Icon },
  data() { return { open: false, editing: null, form: {}, saved: [], pending: [], saving: false, error: '', over: false }; },
  computed: {
    pkg() { return !!this.editing?.slug; },
    files() { return [...this.saved.map((r) => ({ ...r, saved: true })), ...this.pending.map((f) => ({ filename: f.name, size: f.size, saved: false }))]; },
  },
  template: `
  <Modal v-model:open="open" :title="editing ? 'Edit skill' : 'New skill'" wide testid="skill-dialog">
    <form class="form" id="skill-form" @submit.prevent="save">
      <div class="banner" v-if="pkg"><Icon name="tool" :size="16"/> SKILL.md package <b class="mono">{{ editing.slug }}</b>: agents load it with
        ADK's skill tools. Saving rewrites its SKILL.md; upload a new package to change its files.</div>
      <div class="field"><label for="sk-name">Name <span class="req">*</span></label><input id="sk-name" v-model="form.name" required autofocus placeholder="e.g. Return policy"></div>
      <div class="field"><label for="sk-desc">Description</label><input id="sk-desc" v-model="form.description" placeholder="What this skill is for"></div>
      <div class="field"><label for="sk-ins">Instructions <span class="req" v-if="!pkg">*</span></label>
        <textarea id="sk-ins" v-model="form.instructions" rows="8" :required="!pkg" placeholder="Step-by-step instructions for this skill…"></textarea></div>
      <details class="section" open v-if="!pkg">
        <summary>Reference files <span class="count" v-if="files.length">{{ files.length }}</span></summary>
        <p class="hint">Inlined into the instructions of every agent using this skill (text files; binary files are named only).</p>
        <label class="dropzone panel" :class="{over}" data-testid="skill-dropzone" @dragover.prevent="over = true" @dragleave.prevent="over = false" @drop.prevent="drop">
          <Icon name="plus" :size="16"/> Drop files here or <u>browse</u>
          <input type="file" multiple hidden data-testid="skill-ref-input" @change="pick">
        </label>
        <div class="list" v-if="files.length">
          <div class="list-row" v-for="f in files" :key="f.filename" data-testid="skill-ref">
            <span class="mono small grow">{{ f.filename }}</span><span class="muted small">{{ fmtSize(f.size) }}</span>
            <span class="badge" v-if="!f.saved">pending</span>
            <button class="icon-btn" type="button" v-if="f.saved" @click="fetchRef(f)" title="Download" aria-label="Download"><Icon name="down"/></button>
            <button class="icon-btn danger" type="button" @click="removeRef(f)" title="Remove" aria-label="Remove"><Icon name="trash"/></button>
          </div>
        </div>
      </details>
      <details class="section" v-else open>
        <summary>Package files <span class="count">{{ editing.package?.files?.length || 0 }}</span></summary>
        <div class="list"><div class="list-row" v-for="f in editing.package?.files || []" :key="f.path">
          <span class="mono small grow">{{ f.path }}</span><span class="muted small">{{ fmtSize(f.size) }}</span></div></div>
      </details>
      <p class="error-text" v-if="error" role="alert">{{ error }}</p>
    </form>
    <template #footer>
      <button class="btn ghost" type="button" @click="open = false">Cancel</button>
      <button class="btn" type="submit" form="skill-form" :disabled="saving">{{ editing ? 'Save' : 'Create' }}</button>
    </template>
  </Modal>`,
  methods: {
    fmtSize,
    show(s) {
      this.editing = s || null;
      this.form = { name: s?.name || '', description: s?.description || '', instructions: s?.instructions || '' };
      Object.assign(this, { saved: [...(s?.references || [])], pending: [], error: '', saving: false, over: false, open: true });
    },
    add(list) {
      for (const f of list) {
        if (this.files.some((x) => x.filename === f.name)) { toast.error(`“${f.name}” is already attached`); continue; }
        this.pending.push(f);
      }
    },
    pick(e) { this.add([...(e.target.files || [])]); e.target.value = ''; },
    drop(e) { this.over = false; this.add([...(e.dataTransfer?.files || [])]); },
    async removeRef(f) {
      if (!f.saved) { this.pending = this.pending.filter((p) => p.name !== f.filename); return; }
      try {
        await api.del(`/skills/${this.editing.id}/references/${encodeURIComponent(f.filename)}`);
        this.saved = this.saved.filter((r) => r.filename !== f.filename);
        load('skills');
      } catch (e) { toast.error(e); }
    },
    async fetchRef(f) {
      try { await download(`/skills/${this.editing.id}/references/${encodeURIComponent(f.filename)}`, f.filename); } catch (e) { toast.error(e); }
    },
    async save() {
      this.saving = true; this.error = '';
      try {
        const body = { ...this.form, name: this.form.name.trim() };
        const sk = this.editing ? await api.put(`/skills/${this.editing.id}`, body) : await api.post('/skills', body);
        for (const f of this.pending) await uploadFile(`/skills/${sk.id}/references`, f);
        toast.success(`Skill “${body.name}” ${this.editing ? 'saved' : 'created'}`);
        this.open = false; await load('skills');
      } catch (e) { this.error = e.message; } finally { this.saving = false; }
    },
  },
};

const UploadDialog = {
  name: 'SkillUploadDialog',
  components: { Modal, Icon },
  data() { return { open: false, file: null, replace: false, busy: false, error: '' }; },
  template: `
  <Modal v-model:open="open" title="Upload a skill package" testid="skill-upload">
    <form class="form" id="skill-upload-form" @submit.prevent="send">
      <p class="muted small">A <span class="mono">SKILL.md</span> (YAML frontmatter with <span class="mono">name</span> and
        <span class="mono">description</span>), or a .zip / .tar.gz holding it with optional references/, assets/ and scripts/.</p>
      <div class="field"><label for="sk-file">Package <span class="req">*</span></label>
        <input id="sk-file" type="file" accept=".md,.zip,.tgz,.gz,application/zip,application/gzip" required @change="file = $event.target.files[0] || null"></div>
      <label class="check"><input type="checkbox" v-model="replace"> Replace the skill of the same name (keeps its id and agents)</label>
      <p class="error-text" v-if="error" role="alert">{{ error }}</p>
    </form>
    <template #footer>
      <button class="btn ghost" type="button" @click="open = false">Cancel</button>
      <button class="btn" type="submit" form="skill-upload-form" :disabled="busy || !file">{{ busy ? 'Uploading…' : 'Upload' }}</button>
    </template>
  </Modal>`,
  methods: {
    show() { Object.assign(this, { file: null, replace: false, busy: false, error: '', open: true }); },
    async send() {
      this.busy = true; this.error = '';
      try {
        const sk = await uploadFile(`/skills/upload${this.replace ? '?replace=true' : ''}`, this.file);
        toast.success(`Skill “${sk.name}” uploaded`);
        this.open = false; await load('skills');
      } catch (e) { this.error = e.message; } finally { this.busy = false; }
    },
  },
};

export default {
  name: 'SkillsPage',
  mixins: [entityPage('skills', 'skill', ['agents'])],
  components: { Icon, PageHeader, EmptyState, Skeleton, ErrorBanner, SkillDialog, UploadDialog },
  computed: { items() { return this.sorted((store.skills || []).filter((x) => matches(x, this.filter, ['name', 'description', 'instructions', 'slug']))); } },
  template: `
  <div class="page">
    <PageHeader title="Skills" icon="tool" :count="(s.skills || []).length" new-label="New skill" v-model:filter="filter" v-model:sort="sort" :shown="items.length" @new="$refs.dlg.show()"
      subtitle="Reusable knowledge for agents: inline instructions with reference files, or SKILL.md packages.">
      <button class="btn ghost" type="button" @click="$refs.up.show()" data-testid="skill-upload-btn"><Icon name="up" :size="16"/> Upload package</button>
    </PageHeader>
    <ErrorBanner :error="s.errors.skills"/>
    <Skeleton v-if="!s.loaded.skills"/>
    <EmptyState v-else-if="!(s.skills || []).length" icon="tool" title="No skills yet" text="Write instructions agents should follow, or upload a SKILL.md package." action="New skill" @action="$refs.dlg.show()"/>
    <div v-else class="grid">
      <article class="card entity skill" v-for="k in items" :key="k.id" tabindex="0" data-testid="skill-card" @click="$refs.dlg.show(k)" @keydown.enter="$refs.dlg.show(k)">
        <header class="card-head"><span class="type-badge" style="background:#0891b2">{{ k.slug ? 'PKG' : 'SKILL' }}</span><h3>{{ k.name }}</h3></header>
        <p class="muted small" v-if="k.description">{{ k.description }}</p>
        <p class="prompt-preview small clamp">{{ k.instructions }}</p>
        <div class="chip-list" v-if="(k.references || []).length"><span class="chip mono small" v-for="r in k.references" :key="r.filename">{{ r.filename }}</span></div>
        <div class="chip-list" v-if="k.package"><span class="chip mono small">{{ k.package.files.length }} file{{ k.package.files.length === 1 ? '' : 's' }} · {{ fmtSize(k.package.size) }}</span></div>
        <div class="chip-list"><span class="badge k-agent" v-for="a in usedBy(k)" :key="a.id">{{ a.name }}</span>
          <span class="muted small" v-if="!usedBy(k).length">Not used by any agent</span></div>
        <footer class="card-actions" @click.stop><span class="spacer"></span>
          <button class="icon-btn" type="button" @click="get(k)" title="Download package" aria-label="Download package"><Icon name="down"/></button>
          <button class="icon-btn" type="button" @click="$refs.dlg.show(k)" title="Edit" aria-label="Edit"><Icon name="edit"/></button>
          <button class="icon-btn danger" type="button" @click="remove(k)" title="Delete" aria-label="Delete"><Icon name="trash"/></button>
        </footer>
      </article>
    </div>
    <SkillDialog ref="dlg"/>
    <UploadDialog ref="up"/>
  </div>`,
  methods: {
    fmtSize,
    usedBy(k) { return store.agents.filter((a) => (a.skills || []).includes(k.id)); },
    async get(k) {
      try { await download(`/skills/${k.id}/download`, `${k.slug || 'skill'}.tar.gz`); } catch (e) { toast.error(e); }
    },
  },
};
