// Package browsertest holds sockhop's browser tests: the bundled JS client (client-js) in
// headless Chromium, driven through package internal/browser, against a real
// sockhop.Server in httptest, behind small Go proxies that refuse, strip, stall or buffer
// what a hostile network would.
//
// The tests skip when Chromium or client-js/node_modules is missing, unless CI=true, where
// that is a failure. Install both with `bash .ci/install-deps.sh`.
package browsertest
