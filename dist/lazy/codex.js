import{createRequire as __createRequire}from"node:module";const require=__createRequire(import.meta.url);
import{a,b,c,d,e}from"./shared-IIJRX3UQ.js";import"./shared-IITHMNZT.js";import"./shared-FZFTP6JZ.js";import"./shared-IEU4AB5W.js";export{d as CodexLoginError,b as LOGIN_TIMEOUT_MS,e as codexLogin,a as ensureCodex,c as runCodexExec};
