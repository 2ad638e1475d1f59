import{createRequire as __createRequire}from"node:module";const require=__createRequire(import.meta.url);
function c(t,e){return t?.auth.hash===e.hash?"unchanged":t&&(t.auth.info.lastRefresh??0)>=(e.info.lastRefresh??0)?{conflict:t}:null}function l(t){return{runner:"runner",cache:"Actions cache",command:"command","github-secret":"GitHub secret"}[t]}export{c as a,l as b};
