import { describe, expect, test } from '@jest/globals';
import { childEnv } from '../src/child-env.js';

describe('childEnv', () => {
  test('keeps the step environment, hides the inputs, state and runner credentials, adds extras', () => {
    const env = childEnv(
      {
        PATH: '/bin',
        HOME: '/home/r',
        GITHUB_REPOSITORY: 'o/r',
        'INPUT_AUTH-JSON': '{"tokens":{}}',
        'INPUT_SECRET-TOKEN': 'github_pat_x',
        STATE_codex_auth: '{}',
        ACTIONS_RUNTIME_TOKEN: 'rt',
        ACTIONS_RESULTS_URL: 'https://results',
        ACTIONS_CACHE_URL: 'https://cache',
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'oidc',
        ACTIONS_ID_TOKEN_REQUEST_URL: 'https://oidc',
        GITHUB_STATE: '/runner/_temp/_runner_file_commands/save_state_1',
        GITHUB_ENV: '/runner/_temp/_runner_file_commands/set_env_1',
        GITHUB_OUTPUT: '/runner/_temp/_runner_file_commands/set_output_1',
        GITHUB_PATH: '/runner/_temp/_runner_file_commands/add_path_1',
        GITHUB_STEP_SUMMARY: '/runner/_temp/_runner_file_commands/step_summary_1',
        GITHUB_WORKSPACE: '/w',
        AWS_REGION: 'eu-west-1',
        UNSET: undefined,
      },
      { CODEX_HOME: '/h' },
    );
    expect(env).toEqual({ PATH: '/bin', HOME: '/home/r', GITHUB_REPOSITORY: 'o/r', GITHUB_WORKSPACE: '/w', AWS_REGION: 'eu-west-1', CODEX_HOME: '/h' });
  });
});
