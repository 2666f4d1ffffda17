// The widget UI. Replaced by the full step machine in the widget issue.
const app = document.getElementById('app');
fetch('/session', { credentials: 'same-origin' })
  .then((r) => r.json())
  .then((s) => { app.textContent = `Widget session ready (${s.jobTypes.join(', ')})`; });
