// Package proxyconf holds the reverse proxy configurations the tests run sockhop behind
// (internal/proxytest, cmd/sockhop): the recipes of docs/proxies.md, with BACKEND standing
// for the upstream's address. Keep them in step with the doc.
package proxyconf

// NginxRecipe is the documented nginx location for a sockhop mount.
const NginxRecipe = `
        proxy_pass http://BACKEND;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_buffering off;
        proxy_read_timeout 1h;
`

// NginxBare is a location written without sockhop in mind: HTTP/1.0 to the upstream, no
// Upgrade, default buffering (which honours the server's X-Accel-Buffering: no).
const NginxBare = `
        proxy_pass http://BACKEND;
        proxy_set_header Host $http_host;
`

// NginxScanning buffers every response whatever the upstream says, like a scanning proxy.
const NginxScanning = `
        proxy_pass http://BACKEND;
        proxy_set_header Host $http_host;
        proxy_buffering on;
        proxy_ignore_headers X-Accel-Buffering;
`
