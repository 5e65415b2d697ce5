/* Prompt clips: record a clip in the browser (MediaRecorder) and send it like an upload. */
(function () {
  "use strict";
  if (!window.MediaRecorder || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return; // the file upload in each row still works
  }
  var active = null;

  function send(form, blob, status) {
    var data = new FormData(form);
    var type = (blob.type || "audio/webm").split(";")[0];
    data.set("audio", blob, "recording." + (type.split("/")[1] || "webm"));
    status.textContent = "…";
    fetch(form.action, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (response) { window.location.assign(response.url); })
      .catch(function () { status.textContent = "×"; });
  }

  function start(button) {
    var form = button.form;
    var status = form.querySelector(".record-status");
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      var chunks = [];
      var recorder = new MediaRecorder(stream);
      recorder.ondataavailable = function (event) { if (event.data.size) { chunks.push(event.data); } };
      recorder.onstop = function () {
        stream.getTracks().forEach(function (track) { track.stop(); });
        button.textContent = button.dataset.start;
        active = null;
        send(form, new Blob(chunks, { type: recorder.mimeType }), status);
      };
      recorder.start();
      active = recorder;
      button.textContent = button.dataset.stop;
      status.textContent = "●";
    }).catch(function () { status.textContent = "×"; });
  }

  document.querySelectorAll("form.clip-form button.record").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      if (active) { active.stop(); } else { start(button); }
    });
  });
})();
