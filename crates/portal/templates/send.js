// The send page's upload: the form goes as one streaming request, its progress shown while
// the browser sends it; the gateway's answer (a page) then replaces this one.
"use strict";
(function () {
  var form = document.getElementById("send-form");
  var bar = document.getElementById("progress");
  var percent = document.getElementById("percent");
  var button = document.getElementById("send");
  if (!form || !bar || !window.XMLHttpRequest || !window.FormData) {
    return;
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    bar.hidden = false;
    bar.value = 0;
    button.disabled = true;
    request.upload.onprogress = function (e) {
      if (e.lengthComputable && e.total > 0) {
        var p = Math.floor((e.loaded * 100) / e.total);
        bar.value = p;
        percent.textContent = p + " %";
      }
    };
    request.upload.onload = function () {
      bar.value = 100;
      percent.textContent = "100 %";
    };
    request.onload = function () {
      document.open();
      document.write(request.responseText);
      document.close();
    };
    request.onerror = function () {
      button.disabled = false;
      percent.textContent = "✗";
    };
    request.send(new FormData(form));
  });
})();
