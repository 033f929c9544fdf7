// Sidebar navigation entries (id = hash route).
export const NAV = [
  { id: 'overview', label: 'Overview', icon: 'home', group: '' },
  { id: 'playground', label: 'Playground', icon: 'chat', group: '' },
  { id: 'conversations', label: 'Conversations', icon: 'activity', group: '' },
  { id: 'backends', label: 'Backends', icon: 'server', group: 'Build' },
  { id: 'agents', label: 'Agents', icon: 'bot', group: 'Build' },
  { id: 'flows', label: 'Flows', icon: 'flow', group: 'Build' },
  { id: 'memory', label: 'Memory', icon: 'database', group: 'Build' },
  { id: 'mcps', label: 'MCP servers', icon: 'plug', group: 'Build' },
  { id: 'skills', label: 'Skills', icon: 'tool', group: 'Build' },
  { id: 'commands', label: 'Commands', icon: 'terminal', group: 'Build' },
  { id: 'clients', label: 'Clients', icon: 'users', group: 'Access' },
  { id: 'secrets', label: 'Secrets', icon: 'key', group: 'Access' },
  { id: 'costs', label: 'Costs', icon: 'activity', group: 'Access' },
  { id: 'settings', label: 'Settings', icon: 'settings', group: 'Access' },
];
