// Loaded with `node --import`: makes importing any package named in FTK_FORBID (comma-separated
// prefixes) fail, so a test can prove a command runs without loading it.
import { register } from 'node:module';

const forbidden = (process.env.FTK_FORBID ?? '').split(',').filter(Boolean);
const hooks = `
const forbidden = ${JSON.stringify(forbidden)};
export async function resolve(specifier, context, next) {
  if (forbidden.some((p) => specifier === p || specifier.startsWith(p.endsWith('/') ? p : p + '/'))) {
    throw new Error('FORBIDDEN_AT_STARTUP: ' + specifier + ' was imported (from ' + context.parentURL + ')');
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
