import{createRequire as __createRequire}from"node:module";const require=__createRequire(import.meta.url);
var s=class extends Error{name="UserError"};function u(n){return typeof n=="object"&&n!==null&&typeof n.message=="string"}function t(n){if(!u(n))return String(n);let e=n.cause;return e===void 0||n.message.includes(t(e))?n.message:`${n.message}: ${t(e)}`}export{s as a,t as b};
