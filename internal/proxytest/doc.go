// Package proxytest holds the tests of sockhop behind real reverse proxies: Debian's nginx
// and Apache httpd, each started by the test on free loopback ports with its own config and
// prefix dir, and headless Chromium loading the connectivity doctor (<mount>/diag) through
// them. The configs are the recipes of docs/proxies.md, plus the broken variants whose
// outcome that document describes.
//
// Tests skip with a message naming what is missing (nginx, apache2, chromium, node,
// client-js/node_modules) and fail instead when CI=true. Screenshots of the doctor go to
// $SOCKHOP_ARTIFACTS/proxytest when that is set.
package proxytest
