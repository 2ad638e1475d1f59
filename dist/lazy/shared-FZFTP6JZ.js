import{createRequire as __createRequire}from"node:module";const require=__createRequire(import.meta.url);
var e=class extends Error{name="UserError"};function u(n){return typeof n=="object"&&n!==null&&typeof n.message=="string"}function t(n){if(!u(n))return String(n);let s=n.cause;return s===void 0||n.message.includes(t(s))?n.message:`${n.message}: ${t(s)}`}export{e as a,t as b};
