// The pages load the client with <script src="/rt/sockhop.js">, which defines the global
// sockhop: this declares it for the type check of their scripts (tsconfig.json).
import type * as client from 'sockhop';

declare global {
  const sockhop: typeof client;
}
