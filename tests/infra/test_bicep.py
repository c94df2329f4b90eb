"""Offline checks of infra/ (the Bicep CLI isn't installable here): every template parses, and the parsed
templates deploy what the code needs, with the settings the code reads and nothing else."""

from __future__ import annotations

import itertools
import json
import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import tree_sitter
import tree_sitter_bicep
from pycep import BicepParser

from shared.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
README = ROOT / "README.md"
DEPLOY_WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"

# What Flex Consumption accepts as functionAppConfig.scaleAndConcurrency.maximumInstanceCount in every region.
# MicrosoftDocs/azure-docs flex-consumption-plan.md and event-driven-scaling.md gave 40 to 1000 through 2025;
# the 2026 versions say 1 to 1000, the lower values being rolled out region by region (maintainer's comment on
# Azure/azure-functions-host#10523, January 2026), with a warning that below 40 an HTTP app is throttled.
FLEX_MAXIMUM_INSTANCE_COUNT = (40, 1000)

# GitHub's OIDC tokens: their issuer, and the audience azure/login asks for (Entra ID's default).
GITHUB_OIDC_ISSUER = "https://token.actions.githubusercontent.com"
AZURE_TOKEN_AUDIENCE = "api://AzureADTokenExchange"

# Settings the platform reads, not Feedhouse. Every entry needs a reason to be here.
PLATFORM_SETTINGS = {
    # The Functions host's own storage (leases, keys, deployment bookkeeping), reached with the app's
    # system-assigned identity; the identity-based replacement for the AzureWebJobsStorage connection string.
    "AzureWebJobsStorage__accountName",
    # Where the host and worker send logs and telemetry.
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    # Send that telemetry with Entra ID ("Authorization=AAD"), since App Insights local auth is off.
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    # The host's request body limit, raised above FEEDHOUSE_MAX_UPLOAD_BYTES so uploads reach the app.
    "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT",
    # No host home page at `/`, which is the web UI's landing page.
    "AzureWebJobsDisableHomepage",
}

# Deprecated, moved or ignored on Flex Consumption (runtime and deployment live in functionAppConfig), or
# only meaningful on other plans. None may appear anywhere in the templates, as a key or a value.
FLEX_DEPRECATED = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY",
    "WEBSITE_RUN_FROM_PACKAGE",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTOVERVNET",
    "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
    "WEBSITE_VNET_ROUTE_ALL",
    "WEBSITE_MOUNT_ENABLED",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
    "WEBSITE_NODE_DEFAULT_VERSION",
    "WEBSITE_TIME_ZONE",
    "WEBSITES_CONTAINER_START_TIME_LIMIT",
    "WEBSITE_USE_PLACEHOLDER_DOTNETISOLATED",
    "linuxFxVersion",
    "functionAppScaleLimit",
    "preWarmedInstanceCount",
    "alwaysOn",
    "use32BitWorkerProcess",
    "netFrameworkVersion",
}

# The storage emulator must never be configured in Azure.
DEVELOPMENT_STORAGE = ("UseDevelopmentStorage", "devstoreaccount1", "127.0.0.1:10000")

# Built-in role definition IDs (the same in every tenant) and where the app's identity must hold them.
ROLE_IDS = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Storage Blob Delegator": "db58b8e5-c6ad-4a2a-8342-4190687cbf4a",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}
EXPECTED_ROLES = {
    ("Storage Blob Data Owner", "Microsoft.Storage/storageAccounts"),
    ("Storage Table Data Contributor", "Microsoft.Storage/storageAccounts"),
    ("Storage Blob Delegator", "Microsoft.Storage/storageAccounts"),
    ("Key Vault Secrets User", "Microsoft.KeyVault/vaults"),
    ("Monitoring Metrics Publisher", "Microsoft.Insights/components"),
}


# --- reading the templates ---------------------------------------------------------------------------


@cache
def parsed(path: Path) -> dict[str, Any]:
    return BicepParser().parse(file_path=path)


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def expr(node: Any) -> Any:
    """pycep's expression trees as short text: property chains as ``a.b.c``, calls as ``f(...)``."""
    if isinstance(node, dict) and "operator" in node:
        op = node["operator"]
        if op["type"] == "property_accessor":
            return f"{expr(op['operands']['operand_1'])}.{expr(op['operands']['operand_2'])}"
        return {op["type"]: {k: expr(v) for k, v in op["operands"].items()}}
    if isinstance(node, dict) and "function" in node:
        fn = node["function"]
        args = ", ".join(str(expr(v)) for v in (fn.get("parameters") or {}).values() if v is not None)
        return f"{fn['type']}({args})"
    return node


def module_path(name: str) -> Path:
    return INFRA / parsed(MAIN)["modules"][name]["detail"]["path"]


def module_params(name: str) -> dict[str, Any]:
    return {k: expr(v) for k, v in parsed(MAIN)["modules"][name]["config"]["params"].items()}


def resources(path: Path, rtype: str, existing: bool = False) -> dict[str, dict[str, Any]]:
    return {
        name: res
        for name, res in parsed(path).get("resources", {}).items()
        if res["type"] == rtype and res["existing"] is existing
    }


def only_resource(path: Path, rtype: str) -> dict[str, Any]:
    found = resources(path, rtype)
    assert len(found) == 1, f"{rel(path)}: expected one {rtype}, found {sorted(found)}"
    return next(iter(found.values()))["config"]


def declared_anywhere(rtype: str) -> list[str]:
    return [f"{rel(p)}:{name}" for p in BICEP_FILES for name in resources(p, rtype)]


def walk(node: Any):
    """Every key and every string value in a parsed template (comments are already gone)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)
    elif isinstance(node, str):
        yield node


# --- syntax ------------------------------------------------------------------------------------------


def test_infra_has_templates():
    assert MAIN in BICEP_FILES
    assert len(BICEP_FILES) > 1, "main.bicep is composed from modules under infra/app/"


@pytest.mark.parametrize("path", BICEP_FILES, ids=rel)
def test_tree_sitter_parses_without_errors(path: Path):
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))
    tree = parser.parse(path.read_bytes())
    if tree.root_node.has_error:
        bad = []
        stack = [tree.root_node]
        while stack:
            node = stack.pop()
            if node.is_error or node.is_missing:
                bad.append(f"line {node.start_point[0] + 1}, column {node.start_point[1] + 1}: {node.type}")
            stack.extend(node.children)
        pytest.fail(f"{rel(path)} has syntax errors: " + "; ".join(sorted(bad)[:5]))


@pytest.mark.parametrize("path", BICEP_FILES, ids=rel)
def test_pycep_parses(path: Path):
    tree = parsed(path)
    assert tree.get("resources") or tree.get("modules"), f"{rel(path)} declares nothing"


def test_modules_get_the_parameters_they_declare():
    """What the Bicep compiler would check: module files exist, no unknown or missing parameter."""
    for name, module in parsed(MAIN)["modules"].items():
        path = module_path(name)
        assert path.is_file(), f"module {name}: {path} missing"
        declared = parsed(path)["parameters"]
        passed = set(module["config"]["params"])
        assert passed <= set(declared), f"module {name} gets unknown parameters {passed - set(declared)}"
        required = {p for p, spec in declared.items() if spec["default"] is None}
        assert required <= passed, f"module {name} misses required parameters {required - passed}"


# --- resources ---------------------------------------------------------------------------------------


def test_storage_account_is_locked_down():
    storage = only_resource(module_path("storage"), "Microsoft.Storage/storageAccounts")
    props = storage["properties"]
    assert storage["kind"] == "StorageV2"
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True
    assert props["allowBlobPublicAccess"] is False
    assert props["allowSharedKeyAccess"] is False
    assert declared_anywhere("Microsoft.Storage/storageAccounts") == ["infra/app/storage.bicep:storage"]


def test_container_and_tables_match_the_code():
    shared_keys = pytest.importorskip("shared.keys", reason="shared/keys.py hasn't landed yet")
    main_vars = parsed(MAIN)["variables"]
    params = module_params("storage")
    assert main_vars[params["packagesContainerName"]]["value"] == shared_keys.BLOB_CONTAINER
    assert main_vars[params["tableNames"]]["value"] == list(shared_keys.TABLE_NAMES)

    path = module_path("storage")
    containers = resources(path, "Microsoft.Storage/storageAccounts/blobServices/containers")
    packages = [c["config"] for c in containers.values() if c["config"]["name"] == "packagesContainerName"]
    assert packages, "storage.bicep creates no container named by its packagesContainerName parameter"
    assert packages[0]["properties"]["publicAccess"] == "None"
    for container in containers.values():
        assert container["config"]["properties"]["publicAccess"] == "None"

    tables = resources(path, "Microsoft.Storage/storageAccounts/tableServices/tables")
    assert len(tables) == 1
    loop = next(iter(tables.values()))["config"]
    assert loop["loop_type"]["detail"]["array_name"] == "tableNames"
    assert loop["config"]["name"] == loop["loop_type"]["detail"]["item_name"]


def test_monitoring_is_workspace_based_with_entra_id_ingestion():
    path = module_path("monitoring")
    workspace = only_resource(path, "Microsoft.OperationalInsights/workspaces")
    insights = only_resource(path, "Microsoft.Insights/components")
    assert workspace["properties"]["retentionInDays"]
    assert expr(insights["properties"]["WorkspaceResourceId"]) == "logAnalytics.id"
    assert insights["properties"]["DisableLocalAuth"] is True


def test_flex_consumption_plan():
    plan = only_resource(module_path("api"), "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    assert plan["properties"]["reserved"] is True  # Linux


def test_function_app():
    path = module_path("api")
    site = only_resource(path, "Microsoft.Web/sites")
    props = site["properties"]
    assert site["kind"] == "functionapp,linux"
    assert site["identity"] == {"type": "SystemAssigned"}
    assert props["httpsOnly"] is True
    assert expr(props["serverFarmId"]) == "plan.id"

    config = props["functionAppConfig"]
    assert config["runtime"]["name"] == "python"
    version = config["runtime"]["version"]
    assert parsed(path)["parameters"][version]["default"] == "3.11"
    assert module_params("api")[version] == "pythonVersion"
    assert parsed(MAIN)["parameters"]["pythonVersion"]["default"] == "3.11"

    deployment = config["deployment"]["storage"]
    assert deployment["type"] == "blobContainer"
    assert deployment["authentication"] == {"type": "SystemAssignedIdentity"}
    assert deployment["value"].endswith("${deploymentContainerName}")

    # Runtime lives in functionAppConfig; all app settings live in appsettings.bicep (the config resource
    # replaces the whole set, so settings declared on the site too would be dropped or fight).
    site_config = props.get("siteConfig", {})
    assert "linuxFxVersion" not in site_config
    assert "appSettings" not in site_config
    assert site_config["minTlsVersion"] == "1.2"
    assert site_config["ftpsState"] == "Disabled"


def test_maximum_instance_count_is_what_flex_consumption_accepts():
    spec = parsed(MAIN)["parameters"]["maximumInstanceCount"]
    bounds = {d["type"]: d["argument"] for d in spec["decorators"]}
    low, high = FLEX_MAXIMUM_INSTANCE_COUNT
    assert (bounds.get("min_value"), bounds.get("max_value")) == (low, high), (
        f"main.bicep accepts maximumInstanceCount {bounds.get('min_value')} to {bounds.get('max_value')}; "
        f"Flex Consumption accepts {low} to {high}"
    )
    assert low <= spec["default"] <= high
    # ... and that checked value is the one the app gets, untouched.
    assert module_params("api")["maximumInstanceCount"] == "maximumInstanceCount"
    site = only_resource(module_path("api"), "Microsoft.Web/sites")
    scale = site["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    assert scale["maximumInstanceCount"] == "maximumInstanceCount"


def test_role_assignments_at_the_right_scopes():
    path = module_path("rbac")
    role_vars = parsed(path)["variables"]["roles"]["value"]
    scopes = {name: res["type"] for name, res in parsed(path)["resources"].items() if res["existing"]}
    by_id = {guid: role for role, guid in ROLE_IDS.items()}
    found = set()
    for name, res in resources(path, "Microsoft.Authorization/roleAssignments").items():
        config = res["config"]
        role_ref = expr(config["properties"]["roleDefinitionId"])
        match = re.fullmatch(
            r"subscription_resource_id\(Microsoft\.Authorization/roleDefinitions, roles\.(\w+)\)", role_ref
        )
        assert match, (
            f"{name}: roleDefinitionId should be subscriptionResourceId(..., roles.x), not {role_ref}"
        )
        guid = role_vars[match[1]]
        assert guid in by_id, f"{name}: {guid} is not one of the expected role definitions"
        assert config["scope"] in scopes, f"{name}: scope {config['scope']} is not a resource of rbac.bicep"
        assert config["properties"]["principalId"] == "principalId"
        assert config["properties"]["principalType"] == "ServicePrincipal"
        # Deterministic, unique names: the scope, the principal and the role.
        assert expr(config["name"]).startswith(f"guid({config['scope']}.id, principalId, roles.{match[1]}")
        found.add((by_id[guid], scopes[config["scope"]]))
    assert found == EXPECTED_ROLES
    assert declared_anywhere("Microsoft.Authorization/roleAssignments") == [
        f"infra/app/rbac.bicep:{name}" for name in resources(path, "Microsoft.Authorization/roleAssignments")
    ]

    # The principal is the Function App's system-assigned identity.
    assert module_params("rbac")["principalId"] == "api.outputs.principalId"
    outputs = parsed(module_path("api"))["outputs"]
    assert expr(outputs["principalId"]["value"]) == "site.identity.principalId"
    # ... and the scopes are this deployment's resources.
    assert module_params("rbac")["storageAccountName"] == "storage.outputs.name"
    assert module_params("rbac")["keyVaultName"] == "keyVault.outputs.name"
    assert module_params("rbac")["applicationInsightsName"] == "monitoring.outputs.applicationInsightsName"


def test_key_vault_holds_the_admin_token():
    path = module_path("keyVault")
    vault = only_resource(path, "Microsoft.KeyVault/vaults")["properties"]
    assert vault["enableRbacAuthorization"] is True
    assert vault["enableSoftDelete"] is True
    assert vault["enablePurgeProtection"] is True
    assert 7 <= parsed(path)["parameters"]["softDeleteRetentionInDays"]["default"] <= 90

    secret = resources(path, "Microsoft.KeyVault/vaults/secrets")["adminTokenSecret"]["config"]
    token_param = secret["properties"]["value"]
    assert {"type": "secure"} in parsed(path)["parameters"][token_param]["decorators"]
    assert expr(parsed(path)["outputs"]["adminTokenUri"]["value"]).endswith(".properties.secretUri")

    # main.bicep: a secure parameter with no default (a token never lives in the repository).
    main_token = parsed(MAIN)["parameters"]["adminToken"]
    assert {"type": "secure"} in main_token["decorators"]
    assert main_token["default"] is None
    assert module_params("keyVault")[token_param] == "adminToken"


def test_app_settings_are_exactly_what_the_code_reads():
    path = module_path("appSettings")
    configs = resources(path, "Microsoft.Web/sites/config")
    assert len(configs) == 1
    config = next(iter(configs.values()))["config"]
    assert config["name"] == "appsettings"
    assert config["parent"] in {
        n for n, r in parsed(path)["resources"].items() if r["type"] == "Microsoft.Web/sites"
    }
    settings = config["properties"]

    deployed = {s.name for s in SETTINGS if s.deployed}
    expected = deployed | PLATFORM_SETTINGS
    missing = expected - set(settings)
    unexpected = set(settings) - expected
    assert not missing, f"appsettings.bicep doesn't set {sorted(missing)} (from shared/settings.py or above)"
    assert not unexpected, (
        f"appsettings.bicep sets {sorted(unexpected)}, which neither shared/settings.py (deployed=True) nor "
        "PLATFORM_SETTINGS in this test lists"
    )
    for setting in SETTINGS:
        if not setting.deployed:
            assert setting.name not in settings
    # No other resource sets app settings behind this one's back.
    assert declared_anywhere("Microsoft.Web/sites/config") == [f"{rel(path)}:{next(iter(configs))}"]

    params = module_params("appSettings")
    # Storage: this deployment's account, for the code and for the host.
    assert settings["FEEDHOUSE_STORAGE_ACCOUNT_NAME"] == "storageAccountName"
    assert settings["AzureWebJobsStorage__accountName"] == "storageAccountName"
    assert params["storageAccountName"] == "storage.outputs.name"
    # The admin token: a Key Vault reference to the secret created from the secure parameter.
    reference = re.fullmatch(
        r"@Microsoft\.KeyVault\(SecretUri=\$\{(\w+)\}\)", settings["FEEDHOUSE_ADMIN_TOKEN"]
    )
    assert reference, (
        f"FEEDHOUSE_ADMIN_TOKEN isn't a Key Vault reference: {settings['FEEDHOUSE_ADMIN_TOKEN']!r}"
    )
    assert params[reference[1]] == "keyVault.outputs.adminTokenUri"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "Authorization=AAD"
    assert settings["AzureWebJobsDisableHomepage"] == "true"
    # Settings go on after the role assignments, so the first start can resolve the reference.
    assert "rbac" in parsed(MAIN)["modules"]["appSettings"]["config"]["dependsOn"]


def test_upload_limits_agree():
    settings = only_resource(module_path("appSettings"), "Microsoft.Web/sites/config")["properties"]
    assert expr(settings["FEEDHOUSE_MAX_UPLOAD_BYTES"]) == "string(maxUploadBytes)"
    body_limit = expr(settings["FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"])
    assert body_limit.startswith("string({'add': {'operand_1': 'maxUploadBytes'"), body_limit
    default = next(s.default for s in SETTINGS if s.name == "FEEDHOUSE_MAX_UPLOAD_BYTES")
    assert parsed(MAIN)["parameters"]["maxUploadBytes"]["default"] == int(default)
    assert module_params("appSettings")["maxUploadBytes"] == "maxUploadBytes"


@pytest.mark.parametrize("path", BICEP_FILES, ids=rel)
def test_no_flex_deprecated_setting_or_development_storage(path: Path):
    tokens = set(walk(parsed(path)))
    assert not tokens & FLEX_DEPRECATED, f"{rel(path)} uses {sorted(tokens & FLEX_DEPRECATED)}"
    text = path.read_text()
    for marker in DEVELOPMENT_STORAGE:
        assert marker not in text, f"{rel(path)} mentions {marker}"


def test_outputs_give_the_urls_of_the_first_feed():
    host_json = json.loads((ROOT / "host.json").read_text())
    # Feed routes sit at the root of the host: the URLs below have no /api prefix.
    assert host_json["extensions"]["http"]["routePrefix"] == ""

    main = parsed(MAIN)
    base = main["variables"]["baseUrl"]["value"]
    assert base == "https://${api.outputs.defaultHostName}"
    assert expr(parsed(module_path("api"))["outputs"]["defaultHostName"]["value"]) == (
        "site.properties.defaultHostName"
    )
    outputs = {name: expr(spec["value"]) for name, spec in main["outputs"].items()}
    assert outputs["FEEDHOUSE_URL"] == "baseUrl"
    assert outputs["FEEDHOUSE_PIP_INDEX_URL"] == "${baseUrl}/${firstFeedName}/simple/"
    assert outputs["FEEDHOUSE_UPLOAD_URL"] == "${baseUrl}/${firstFeedName}/upload/"
    assert main["parameters"]["firstFeedName"]["default"] == "main"
    assert outputs["AZURE_FUNCTION_NAME"] == "api.outputs.name"


# --- azd and GitHub Actions ----------------------------------------------------------------------------


def test_parameters_file_is_azd_style_and_holds_no_secret():
    data = json.loads((INFRA / "main.parameters.json").read_text())
    params = data["parameters"]
    declared = parsed(MAIN)["parameters"]
    assert set(params) <= set(declared), f"unknown parameters {set(params) - set(declared)}"
    required = {name for name, spec in declared.items() if spec["default"] is None}
    assert required <= set(params), f"azd would not be able to fill {required - set(params)}"
    assert params["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert params["location"]["value"] == "${AZURE_LOCATION}"
    for name, spec in declared.items():
        if {"type": "secure"} in spec["decorators"] and name in params:
            assert re.fullmatch(r"\$\{[A-Z_][A-Z0-9_]*\}", params[name]["value"]), (
                f"secure parameter {name} must come from the azd environment, never be written in the file"
            )


def test_azure_yaml_deploys_this_folder_as_a_python_function():
    text = (ROOT / "azure.yaml").read_text()
    lines = [line.split("#")[0].rstrip() for line in text.splitlines()]
    block = "\n".join(lines[lines.index("services:") :])
    assert re.search(r"^  api:\n(    \S.*\n?)+", block, re.M), block
    service = dict(re.findall(r"^    (\w+): (\S+)$", block, re.M))
    assert service == {"project": ".", "language": "python", "host": "function"}
    # azd finds the app by the service name in this tag.
    assert "'azd-service-name': 'api'" in module_path("api").read_text()


def test_deploy_workflow():
    text = DEPLOY_WORKFLOW.read_text()
    assert "id-token: write" in text
    assert "uses: azure/login@v2" in text
    assert "client-id:" in text and "publish-profile" not in text and "creds:" not in text
    assert "az deployment group create" in text and "--template-file infra/main.bicep" in text
    assert "uses: Azure/functions-action@v1" in text
    for line in ("sku: flexconsumption", "remote-build: true", "respect-funcignore: true"):
        assert re.search(rf"^\s+{re.escape(line)}$", text, re.M), line
    assert "python -m tools.package" in text
    assert "secrets.FEEDHOUSE_ADMIN_TOKEN" in text


def deploy_job_environment() -> str:
    """The `environment:` of the deploy job.

    Read with a pattern, as azure.yaml above: no YAML parser is among the dev dependencies, and this is one
    line. Any other form (a mapping, an expression, a second job with its own) fails here rather than being
    guessed at."""
    found = re.findall(r"^    environment:(.*)$", DEPLOY_WORKFLOW.read_text(), re.M)
    assert len(found) == 1, f"expected one job-level environment in deploy.yml, found {found}"
    name = found[0].split("#")[0].strip()
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", name), f"deploy.yml's environment isn't a plain name: {name!r}"
    return name


def readme_section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end == -1 else text[start:end]


def shell_commands(markdown: str) -> list[list[str]]:
    """The commands of the sh code blocks: continuations joined, comments dropped, split as sh would."""
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", markdown, re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(words)
    return commands


def options(words: list[str]) -> dict[str, str]:
    return {word: value for word, value in itertools.pairwise(words) if word.startswith("--")}


def test_readme_federated_credential_matches_the_deploy_job():
    """GitHub's token for a job in an environment has the subject repo:<owner>/<repo>:environment:<name>,
    and Entra ID matches it exactly: the README's credential names the deploy job's environment, no branch."""
    environment = deploy_job_environment()
    section = readme_section("Deploy to Azure")
    commands = shell_commands(section)

    credentials = [c for c in commands if c[:4] == ["az", "identity", "federated-credential", "create"]]
    assert len(credentials) == 1, "the README's Azure setup gives no az identity federated-credential create"
    credential = options(credentials[0])
    assert credential["--subject"] == f"repo:$REPO:environment:{environment}"
    assert credential["--issuer"] == GITHUB_OIDC_ISSUER
    assert credential["--audiences"] == AZURE_TOKEN_AUDIENCE
    # $REPO comes from GitHub itself, before it's used (the subject spells owner and name as GitHub does).
    set_repo = next(i for i, c in enumerate(commands) if c[:3] == ["REPO=$(gh", "repo", "view"])
    assert set_repo < commands.index(credentials[0])
    # The identity it trusts is the one whose client ID the workflow logs in with.
    identity = next(c for c in commands if c[:3] == ["az", "identity", "create"])
    assert options(identity)["--name"] == credential["--identity-name"]
    client_id = next(c for c in commands if c[:4] == ["gh", "variable", "set", "AZURE_CLIENT_ID"])
    assert f"--name {credential['--identity-name']} --query clientId" in options(client_id)["--body"]
    assert "client-id: ${{ vars.AZURE_CLIENT_ID }}" in DEPLOY_WORKFLOW.read_text()
    # Only main may deploy to that same environment.
    environment_calls = {c[4] for c in commands if c[:3] == ["gh", "api", "-X"]}
    assert environment_calls == {
        f"repos/$REPO/environments/{environment}",
        f"repos/$REPO/environments/{environment}/deployment-branch-policies",
    }

    # Wherever the README and the workflow spell a subject out, it's this one: never a branch's.
    for where, text in (("README.md", section), ("deploy.yml", DEPLOY_WORKFLOW.read_text())):
        subjects = [s.rstrip(".,;:") for s in re.findall(r"repo:[^\s`\"']+", text)]
        assert subjects, f"{where} doesn't say which subject the federated credential needs"
        for subject in subjects:
            assert subject.endswith(f":environment:{environment}"), f"{where} names the subject {subject}"


def test_sign_in_trusts_the_deployment_tenant_once_an_app_registration_is_named():
    """Issue 15: with oidcClientId, FEEDHOUSE_OIDC_ISSUER is the tenant's Entra ID v2.0 issuer (the
    deployment's tenant unless oidcTenantId says otherwise) and the audiences are the client id and its
    api:// URI; without one, both settings are empty (personal access tokens only)."""
    main = parsed(MAIN)
    assert expr(main["parameters"]["oidcTenantId"]["default"]) == "tenant().tenantId"
    assert main["parameters"]["oidcClientId"]["default"] == ""
    variables = {
        name: expr(v["value"])["conditional"]
        for name, v in main["variables"].items()
        if name.startswith(("entra", "oidc"))
    }
    assert variables["entraIssuer"] == {
        "condition": "empty(oidcClientId)",
        "true_value": "",
        "false_value": "${environment().authentication.loginEndpoint}${oidcTenantId}/v2.0",
    }
    assert variables["entraAudiences"]["false_value"] == "${oidcClientId},api://${oidcClientId}"
    assert variables["oidcIssuerUrl"] == {
        "condition": "empty(oidcIssuer)",
        "true_value": "entraIssuer",
        "false_value": "oidcIssuer",
    }
    assert variables["oidcAudiences"]["true_value"] == "entraAudiences"
    params = module_params("appSettings")
    assert (params["oidcIssuer"], params["oidcAudience"]) == ("oidcIssuerUrl", "oidcAudiences")
    settings = only_resource(module_path("appSettings"), "Microsoft.Web/sites/config")["properties"]
    assert settings["FEEDHOUSE_OIDC_ISSUER"] == "oidcIssuer"
    assert settings["FEEDHOUSE_OIDC_AUDIENCE"] == "oidcAudience"


def test_sign_in_through_entra_id_is_configured_for_the_web_ui_and_the_client():
    """Issue 15: the client people sign in with is the API's own app registration for Entra ID unless
    oidcSigninClientId names another (none with another issuer unless named); the device code flow asks
    for api://<client id>/user_impersonation unless oidcScopes says otherwise; the web UI's client
    secret lands in Key Vault only (a secure parameter, a secret created only when given) and the app
    setting is a Key Vault reference to it, empty without one."""
    main = parsed(MAIN)
    secret_param = main["parameters"]["oidcClientSecret"]
    assert {"type": "secure"} in secret_param["decorators"] and secret_param["default"] == ""
    variables = {
        name: expr(v["value"])["conditional"]
        for name, v in main["variables"].items()
        if name in ("entraSigninClientId", "signinClientId", "entraScopes", "signinScopes")
    }
    assert variables["entraSigninClientId"] == {
        "condition": "empty(oidcIssuer)",
        "true_value": "oidcClientId",
        "false_value": "",
    }
    assert variables["signinClientId"] == {
        "condition": "empty(oidcSigninClientId)",
        "true_value": "entraSigninClientId",
        "false_value": "oidcSigninClientId",
    }
    assert variables["entraScopes"]["false_value"] == "api://${oidcClientId}/user_impersonation"
    assert variables["signinScopes"]["true_value"] == "entraScopes"

    vault = module_path("keyVault")
    assert module_params("keyVault")["oidcClientSecret"] == "oidcClientSecret"
    assert {"type": "secure"} in parsed(vault)["parameters"]["oidcClientSecret"]["decorators"]
    stored = resources(vault, "Microsoft.KeyVault/vaults/secrets")["oidcClientSecretValue"]["config"]
    assert expr(stored["condition"]) == {"not": {"bool_value": "empty(oidcClientSecret)"}}
    assert stored["config"]["properties"]["value"] == "oidcClientSecret"

    params = module_params("appSettings")
    assert params["oidcClientId"] == "signinClientId"
    assert params["oidcScopes"] == "signinScopes"
    assert params["oidcClientSecretUri"] == "keyVault.outputs.oidcClientSecretUri"
    settings = only_resource(module_path("appSettings"), "Microsoft.Web/sites/config")["properties"]
    assert settings["FEEDHOUSE_OIDC_CLIENT_ID"] == "oidcClientId"
    assert settings["FEEDHOUSE_OIDC_SCOPES"] == "oidcScopes"
    assert expr(settings["FEEDHOUSE_OIDC_CLIENT_SECRET"]) == {
        "conditional": {
            "condition": "empty(oidcClientSecretUri)",
            "true_value": "",
            "false_value": "@Microsoft.KeyVault(SecretUri=${oidcClientSecretUri})",
        }
    }
