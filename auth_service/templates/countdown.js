// Count down against a fixed deadline (timers drift), then reload: by then the
// session has expired and the proxy answers with its 403 page.
(function () {
  var el = document.getElementById("seconds-left");
  var deadline = Date.now() + parseInt(el.textContent, 10) * 1000;
  var timer = setInterval(function () {
    var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    el.textContent = String(left);
    if (left === 0) {
      clearInterval(timer);
      window.location.reload();
    }
  }, 1000);
})();
