// Shown after the bank sends the user back. In a popup, close it: the widget is polling
// the hub for the outcome and moves on by itself.
if (window.opener && window.opener !== window) {
  setTimeout(() => window.close(), 1500);
}
