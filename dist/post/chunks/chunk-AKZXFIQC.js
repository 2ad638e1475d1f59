import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);
var s=class extends Error{name="UserError"};function t(n){if(!(n instanceof Error))return String(n);let e=n.cause;return e===void 0||n.message.includes(t(e))?n.message:`${n.message}: ${t(e)}`}export{s as a,t as b};
