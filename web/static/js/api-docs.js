// Start Swagger UI or ReDoc on the app's own OpenAPI document (no inline script: CSP).
(function () {
  "use strict";
  var el = document.getElementById("api-docs");
  if (!el) return;
  var spec = el.dataset.spec;
  if (el.dataset.kind === "swagger" && window.SwaggerUIBundle) {
    window.SwaggerUIBundle({ url: spec, dom_id: "#api-docs", deepLinking: true, validatorUrl: null });
  } else if (window.Redoc) {
    window.Redoc.init(spec, { hideDownloadButton: false }, el);
  }
})();
