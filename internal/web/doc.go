// Package web is the controller's web view: server-rendered pages for
// researchers (My jobs, a job, Submit, Projects, Cluster) and operators
// (Operators, What if), with live updates by Server-Sent Events. Each page
// works without its script, which only adds the live updates.
//
// Every page is rendered from the controller's own methods called with the
// request's verified user (controller.Controller.Verify), so a page shows
// exactly what the API would give that user and nothing the API would
// refuse. Templates and assets are embedded; templates are parsed on first
// use, so that linking this package costs no work at start-up.
//
// Forms are protected against cross-site requests twice: the browser's
// Sec-Fetch-Site and Origin headers (http.CrossOriginProtection) and a
// token bound to the user in each form. Every response carries a strict
// Content Security Policy (scripts and styles from this server only, no
// inline script), and pages answer only to loopback host names unless
// others are configured, so that a site cannot rebind its name to the
// controller and read the pages.
//
// Only the commands that run a controller (gefion dev, gefion server) and
// tests import this package; the client build never links it.
package web
