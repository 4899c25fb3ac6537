// Small page behaviours (no inline scripts anywhere: the CSP allows only files from /static).
(function () {
  "use strict";

  // Form drafts: a form with data-draft="key" keeps what was typed in this tab's sessionStorage,
  // so an expired session or a stale CSRF token (the server sends the browser to /login and back)
  // does not lose the operator's work. Passwords and files are never stored; the draft is cleared
  // when the server accepts the form (a page without errors follows).
  function draftKey(form) { return "draft:" + form.dataset.draft; }

  function saveDraft(form) {
    var data = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "password" || el.type === "file" || el.type === "hidden" ||
          el.name === "csrf_token") return;
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) return;
      data[el.name] = el.value;
    });
    try { sessionStorage.setItem(draftKey(form), JSON.stringify(data)); } catch (e) { /* full */ }
  }

  function restoreDraft(form) {
    var raw = null;
    try { raw = sessionStorage.getItem(draftKey(form)); } catch (e) { return; }
    if (!raw) return;
    var data = JSON.parse(raw);
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || !(el.name in data) || el.type === "hidden" || el.type === "file") return;
      if (el.type === "radio" || el.type === "checkbox") el.checked = (el.value === data[el.name]);
      else el.value = data[el.name];
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form[data-draft]");
    if (document.querySelector("[data-session-expired]")) {
      // the login page after an expired session: the next form page restores its draft
      sessionStorage.setItem("draft:restore", "1");
    } else if (sessionStorage.getItem("draft:restore")) {
      forms.forEach(restoreDraft);
      sessionStorage.removeItem("draft:restore");
    }
    forms.forEach(function (form) {
      form.addEventListener("input", function () { saveDraft(form); });
      form.addEventListener("change", function () { saveDraft(form); });
    });
  });

  // htmx: an answer that asks for a full page load (e.g. to the login page) is followed.
  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr && xhr.status === 401) window.location.href = "/login";
  });
})();
