import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);
import{a as e}from"./chunk-AKZXFIQC.js";import"./chunk-W5FUQ3UN.js";var s=class{kind="cache";inPlace=!1;constructor(t){}async restore(){throw new e("`store: cache` is not available in this version yet.")}async persist(){throw new e("`store: cache` is not available in this version yet.")}};export{s as CacheStore};
