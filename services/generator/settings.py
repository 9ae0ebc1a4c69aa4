"""The generator's settings, read once from the environment in main() (see services/common/platform/settings.py)."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.platform.settings import COMMON, ConfigError, Env, Variable, declare
from services.common.platform.tls import read_pem
from services.common.worker.runtime import WorkerSettings
from services.generator.policy import PolicyConfig, RoutingPolicy
from services.generator.retrieval import RetrievalSettings

OWN = declare(
    "generator",
    Variable(
        "CS_GATEWAY_TLS_CA",
        "",
        "PEM CA the generator trusts when streaming tokens to a gateway serving TLS; empty: plaintext",
    ),
    Variable("CS_GENERATOR_MAX_NEW_TOKENS", "80", "Longest generated answer, in tokens"),
    Variable("CS_GENERATOR_DEVICE", "auto", "auto, cpu or cuda"),
    Variable(
        "CS_GENERATOR_BATCH_WINDOW_MS", "10", "How long the LLM engine waits to gather concurrent requests into a batch"
    ),
    Variable(
        "CS_GENERATOR_MAX_IN_FLIGHT",
        "16",
        "Most messages one replica works on at once (different conversations concurrently, one conversation in order)",
    ),
    Variable(
        "CS_GENERATOR_PREFILL_CHUNK",
        "512",
        "Prompt tokens the LLM engine reads per forward pass, running conversations taking a decode step "
        "between chunks; 0: whole prompts at once",
    ),
    Variable(
        "CS_GENERATOR_PREFIX_CACHE",
        "8192",
        "Prompt tokens whose keys and values the LLM engine keeps (24 KB each with the default model), so a "
        "newcomer whose prompt starts the same way (the instructions, the same passages) reads only the rest; "
        "0: off. Used with chunked prefill (CS_GENERATOR_PREFILL_CHUNK > 0)",
    ),
    Variable("CS_GENERATOR_MAX_BATCH", "", "Most conversations generated together; empty: CS_GENERATOR_MAX_IN_FLIGHT"),
    Variable(
        "CS_GENERATOR_PERSONA_CACHE_S",
        "30",
        "Seconds a tenant's persona (cs tenants persona) is used without reading it again; 0: read with every answer",
    ),
    Variable(
        "CS_GENERATOR_REQUIRE_KNOWLEDGE",
        "true",
        "Hand a question over (NO_KNOWLEDGE) when no knowledge-base passage is about it; false: answer ungrounded",
    ),
    Variable(
        "CS_GENERATOR_ANSWER_STYLE",
        "extract",
        "extract: answer with the knowledge base's own sentences (the LLM only translates); phrase: the LLM rewords them",
    ),
    Variable("CS_KNOWLEDGE_TOP_K", "3", "Knowledge-base passages put in the prompt"),
    Variable("CS_KNOWLEDGE_MIN_SCORE", "0.3", "Cosine similarity below which a passage is not about the question"),
    Variable(
        "CS_KNOWLEDGE_REFRESH_S", "10", "Seconds between checks for a newly ingested knowledge base (no restart needed)"
    ),
    # Routing policy (services/generator/policy.py PolicyConfig.from_env); empty = built-in default.
    Variable("CS_POLICY_ANGER_THRESHOLD", "0.75", "anger score at or above which a conversation escalates (ANGER)"),
    Variable("CS_POLICY_URGENT_ANGER", "0.9", "anger score at or above which the escalation is URGENT"),
    Variable(
        "CS_POLICY_WORSENING_SLOPE", "0.2", "a worsening trend with slope <= -this escalates (WORSENING_SENTIMENT)..."
    ),
    Variable(
        "CS_POLICY_WORSENING_MAX_SCORE",
        "-0.3",
        "...only while the sentiment score is below this (-0.3: clearly negative)",
    ),
    Variable("CS_POLICY_LOW_CONFIDENCE", "0.5", "intent confidence below this counts as not understood"),
    Variable(
        "CS_POLICY_NOT_UNDERSTOOD_TURNS", "2", "consecutive out-of-scope / low-confidence messages before escalating"
    ),
    Variable(
        "CS_POLICY_LOOP_REPEATS", "3", "times the same question is asked (each answered by the bot) before BOT_LOOP"
    ),
    Variable("CS_POLICY_LOOP_SIMILARITY", "0.6", "character-bigram similarity that counts as the same question"),
    Variable("CS_POLICY_LOOP_MIN_CHARS", "4", "shorter messages never count as repeats"),
    Variable("CS_POLICY_LOOP_BOT_ANSWERS", "3", "bot answers in a row on the same intent before BOT_LOOP"),
    Variable("CS_POLICY_LOOP_WINDOW_S", "600", "only bot answers within this many seconds count towards a loop"),
    Variable("CS_POLICY_VIP_TIERS", "vip,platinum", "customer tiers treated as VIP"),
    Variable("CS_POLICY_VIP_ALWAYS_HUMAN", "false", "VIP customers always go to a human"),
    Variable("CS_POLICY_HUMAN_INTENTS", "contact_human_agent", "intents that mean the customer asks for a human"),
    Variable("CS_POLICY_COMPLAINT_INTENTS", "complaint", "intents that escalate as complaints"),
    Variable(
        "CS_POLICY_LEGAL_INTENTS",
        "",
        "intents that escalate as legal (the Bitext set has none; text cues catch legal threats)",
    ),
    Variable(
        "CS_POLICY_HUMAN_CUES", "", "comma-separated zh/en phrases meaning 'a human please' (empty: built-in list)"
    ),
    Variable("CS_POLICY_LEGAL_CUES", "", "comma-separated legal-threat phrases (empty: built-in list)"),
    Variable("CS_POLICY_COMPLAINT_CUES", "", "comma-separated complaint phrases (empty: built-in list)"),
    Variable(
        "CS_POLICY_SAFETY_CUES",
        "",
        "comma-separated self-harm and threat phrases: a person at once, URGENT (empty: built-in list)",
    ),
    Variable(
        "CS_POLICY_CUE_EXCLUSIONS",
        "",
        "phrases removed before cue matching, e.g. 'artificial intelligence' (empty: built-in list)",
    ),
    Variable(
        "CS_POLICY_INTENT_QUEUES", "", "intent:queue pairs merged over the built-in map (billing, orders, accounts)"
    ),
    Variable("CS_POLICY_DEFAULT_QUEUE", "general", "queue when no rule names one"),
    Variable("CS_POLICY_COMPLAINT_QUEUE", "complaints", "queue for complaints and legal threats"),
    Variable("CS_POLICY_VIP_QUEUE", "vip", "queue for VIP escalations ('none' keeps VIPs in their topic's queue)"),
)
VARIABLES = {**COMMON, **OWN}


@dataclass(frozen=True)
class GeneratorOptions:
    """How the LLM engine runs and what it answers from."""

    max_new_tokens: int
    device: str
    threads: int
    batch_window_s: float
    max_batch: int
    max_in_flight: int
    prefill_chunk: int
    prefix_cache: int
    persona_cache_s: float
    retrieval: RetrievalSettings
    require_knowledge: bool
    answer_style: str

    @classmethod
    def from_env(cls, env: Env) -> GeneratorOptions:
        device = env.str("CS_GENERATOR_DEVICE")
        if device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"CS_GENERATOR_DEVICE={device!r} must be auto, cpu or cuda")
        in_flight = env.int("CS_GENERATOR_MAX_IN_FLIGHT")
        options = cls(
            max_new_tokens=env.int("CS_GENERATOR_MAX_NEW_TOKENS"),
            device=device,
            threads=env.int("CS_TORCH_THREADS"),
            batch_window_s=env.float("CS_GENERATOR_BATCH_WINDOW_MS") / 1000,
            max_batch=env.int("CS_GENERATOR_MAX_BATCH", in_flight),
            max_in_flight=in_flight,
            prefill_chunk=env.int("CS_GENERATOR_PREFILL_CHUNK"),
            prefix_cache=env.int("CS_GENERATOR_PREFIX_CACHE"),
            persona_cache_s=env.float("CS_GENERATOR_PERSONA_CACHE_S"),
            retrieval=RetrievalSettings(
                k=env.int("CS_KNOWLEDGE_TOP_K"),
                min_score=env.float("CS_KNOWLEDGE_MIN_SCORE"),
                refresh_s=env.float("CS_KNOWLEDGE_REFRESH_S"),
            ),
            require_knowledge=env.bool("CS_GENERATOR_REQUIRE_KNOWLEDGE"),
            answer_style=env.str("CS_GENERATOR_ANSWER_STYLE"),
        )
        if options.answer_style not in ("extract", "phrase"):
            raise ConfigError(f"CS_GENERATOR_ANSWER_STYLE={options.answer_style!r} must be extract or phrase")
        positive = (
            options.max_new_tokens,
            options.max_batch,
            options.max_in_flight,
            options.threads,
            options.retrieval.k,
        )
        if min(positive) < 1:
            raise ConfigError(
                "CS_GENERATOR_MAX_NEW_TOKENS, CS_GENERATOR_MAX_BATCH, CS_GENERATOR_MAX_IN_FLIGHT, CS_TORCH_THREADS "
                "and CS_KNOWLEDGE_TOP_K must be positive"
            )
        if options.prefix_cache < 0:
            raise ConfigError(f"CS_GENERATOR_PREFIX_CACHE={options.prefix_cache} must be 0 (off) or positive")
        if options.prefill_chunk < 0:
            raise ConfigError(
                f"CS_GENERATOR_PREFILL_CHUNK={options.prefill_chunk} must be 0 (whole prompts) or positive"
            )
        if not -1.0 <= options.retrieval.min_score <= 1.0:
            raise ConfigError(f"CS_KNOWLEDGE_MIN_SCORE={options.retrieval.min_score} must be a cosine between -1 and 1")
        return options


@dataclass(frozen=True)
class GeneratorSettings:
    worker: WorkerSettings
    options: GeneratorOptions
    policy: RoutingPolicy
    gateway_ca: bytes | None  # None: plaintext to the gateways' reply sinks

    @classmethod
    def from_env(cls, env: Env | None = None) -> GeneratorSettings:
        env = env or Env(variables=VARIABLES)
        worker = WorkerSettings.from_env("generator", env, default_metrics_port=9104, default_health_port=50063)
        options = GeneratorOptions.from_env(env)
        policy = RoutingPolicy(PolicyConfig.from_env(env.environ))
        queues = worker.common.escalation_queues
        unknown = sorted(set(policy.config.queues()) - set(queues))
        if unknown:
            raise ConfigError(
                f"the routing policy sends to queues {unknown} that are not in CS_ESCALATION_QUEUES "
                f"({','.join(queues)}); add them or change CS_POLICY_*_QUEUE"
            )
        ca_path = env.optional("CS_GATEWAY_TLS_CA")
        return cls(worker, options, policy, read_pem(ca_path, "CS_GATEWAY_TLS_CA") if ca_path else None)
