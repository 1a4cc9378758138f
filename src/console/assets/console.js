// netrestore console: the overview's live region follows the server's events; everything else is plain pages and forms.
(() => {
  const live = document.querySelector('[data-live]');
  if (!live || !('EventSource' in window)) return;
  const source = new EventSource(live.getAttribute('data-live'));
  source.addEventListener('live', (e) => {
    live.innerHTML = e.data; // rendered and escaped by the server's templates
    live.dataset.updated = String(Date.now());
  });
  // A refused stream (logged out, idle too long): the next page load shows the login.
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) live.dataset.closed = '1';
  };
})();
