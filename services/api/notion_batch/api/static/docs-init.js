// Starts Swagger UI on the /api/docs page. A file of its own rather than an inline script, so
// the page's Content-Security-Policy can forbid inline scripts altogether.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    // Relative, so the page also works behind a reverse proxy that adds a path prefix.
    url: "v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    displayRequestDuration: true,
    // The key typed into "Authorize" stays in this tab's memory only.
    persistAuthorization: false,
  });
});
