import{createRequire as __createRequire}from"node:module";const require=__createRequire(import.meta.url);
import"./shared-IEU4AB5W.js";var r=class{constructor(){throw new Error("The gitlab-variable store is for the codex-auth CLI.")}};export{r as GitlabVariableStore};
