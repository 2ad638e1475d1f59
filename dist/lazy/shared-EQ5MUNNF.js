import{createRequire as __createRequire}from"node:module";const require=__createRequire(import.meta.url);
import{a}from"./shared-FL4AVC62.js";import"./shared-IEU4AB5W.js";export default a();
