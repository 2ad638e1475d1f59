import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);
import{a as e}from"./chunk-AKZXFIQC.js";import"./chunk-W5FUQ3UN.js";var o=class{constructor(s){}async acquire(){throw new e("`lock: github` is not available in this version yet: use `lock: file` or `lock: none`.")}async release(){}};export{o as GithubLock};
