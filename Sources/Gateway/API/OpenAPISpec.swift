// The REST contract, served at /openapi.yaml. Generated from docs/openapi.yaml, the file to
// edit, by `python3 docs/embed_openapi.py`; `OpenAPITests` fails when the two differ.
enum OpenAPISpec {
    static let yaml = #"""
openapi: 3.1.0
info:
  title: fleet master REST API
  version: 0.1.0
  description: |
    Served by every gateway. Fleet reads come from the gateway's replica of the registry's state.
    Admin endpoints need `Authorization: Bearer <key>`: the bootstrap admin token (`auth.admin_token`) or an
    API key made with `POST /api/v1/tokens`, whose role decides what it may do (viewer reads; operator adds
    status and logs requests; admin adds exec, config, restart, delete, approve, revoke, keys and the audit log)
    and whose tenant decides what it sees (another tenant's agents and requests are 404). Agents deliver
    callback results with the request's reply token. Errors are always `{"error":{"code","message"}}`.
servers:
  - url: http://127.0.0.1:8080
components:
  securitySchemes:
    admin:
      type: http
      scheme: bearer
      description: An API key (viewer, operator or admin role), or the bootstrap admin token (`auth.admin_token`, or `<data_dir>/admin-token`).
    reply:
      type: http
      scheme: bearer
      description: The single-use reply token from the agent's `callback` frame.
  parameters:
    agentId:
      name: id
      in: path
      required: true
      schema: {type: string, pattern: '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$'}
    requestId:
      name: id
      in: path
      required: true
      schema: {type: string}
    wait:
      name: wait
      in: query
      description: Seconds to wait for the request to finish (long poll), 0-300.
      schema: {type: number, minimum: 0, maximum: 300}
  responses:
    Error:
      description: An error
      content:
        application/json:
          schema: {$ref: '#/components/schemas/Error'}
    Unauthorized:
      description: No key, an unknown one, or a revoked one
      content:
        application/json:
          schema: {$ref: '#/components/schemas/Error'}
    Forbidden:
      description: The key's role is not enough for this call, or it is an enrollment token
      content:
        application/json:
          schema: {$ref: '#/components/schemas/Error'}
  schemas:
    Error:
      type: object
      required: [error]
      properties:
        error:
          type: object
          required: [code, message]
          properties:
            code: {type: string}
            message: {type: string}
    OSInfo:
      type: object
      required: [name, version, kernel, arch]
      properties:
        name: {type: string}
        version: {type: string}
        kernel: {type: string}
        arch: {type: string}
    MetricsSnapshot:
      type: object
      required: [timestamp, seq]
      properties:
        timestamp: {type: string, format: date-time}
        seq: {type: integer, minimum: 0}
        cpu:
          type: object
          properties:
            totalPercent: {type: number}
            perCorePercent: {type: array, items: {type: number}}
            load1: {type: number}
            load5: {type: number}
            load15: {type: number}
        memory:
          type: object
          properties:
            totalBytes: {type: integer}
            availableBytes: {type: integer}
            usedBytes: {type: integer}
            swapTotalBytes: {type: integer}
            swapFreeBytes: {type: integer}
        filesystems:
          type: array
          items:
            type: object
            properties:
              mountPoint: {type: string}
              device: {type: string}
              fsType: {type: string}
              totalBytes: {type: integer}
              freeBytes: {type: integer}
              availableBytes: {type: integer}
              usedPercent: {type: number}
        network:
          type: array
          items:
            type: object
            properties:
              name: {type: string}
              rxBytes: {type: integer}
              txBytes: {type: integer}
              rxPackets: {type: integer}
              txPackets: {type: integer}
              rxErrors: {type: integer}
              txErrors: {type: integer}
              rxDrops: {type: integer}
              txDrops: {type: integer}
              rxBytesPerSecond: {type: number}
              txBytesPerSecond: {type: number}
        uptimeSeconds: {type: number}
        bootTime: {type: string, format: date-time}
        agentRSSBytes: {type: integer}
    AgentRecord:
      type: object
      required: [id, hostname, os, agentVersion, labels, state, firstSeen, lastSeen]
      properties:
        id: {type: string}
        hostname: {type: string}
        os: {$ref: '#/components/schemas/OSInfo'}
        agentVersion: {type: string}
        labels: {type: object, additionalProperties: {type: string}}
        state: {type: string, enum: [online, disconnected, offline, pending, revoked]}
        stateReason: {type: string}
        gatewayId: {type: string}
        sessionId: {type: string}
        firstSeen: {type: string, format: date-time}
        connectedAt: {type: string, format: date-time}
        disconnectedAt: {type: string, format: date-time}
        lastSeen: {type: string, format: date-time}
        metrics: {$ref: '#/components/schemas/MetricsSnapshot'}
        tenant: {type: string, description: 'The tenant of the enrollment token the agent enrolled with'}
    AgentList:
      type: object
      required: [agents, total]
      properties:
        agents: {type: array, items: {$ref: '#/components/schemas/AgentRecord'}}
        total: {type: integer}
    CallbackRequest:
      type: object
      required: [kind]
      properties:
        kind: {type: string, enum: [status, logs, config, exec, restart]}
        args:
          description: 'Kind-specific. logs: {"file": "agent.log", "tail": BYTES}.'
    RequestRecord:
      type: object
      required: [id, agentId, kind, args, state, attempts, maxAttempts, createdAt, duplicateReplies]
      properties:
        id: {type: string}
        agentId: {type: string}
        kind: {type: string, enum: [status, logs, config, exec, restart]}
        args: {}
        state: {type: string, enum: [pending, dispatched, completed, failed]}
        attempts: {type: integer}
        maxAttempts: {type: integer}
        createdAt: {type: string, format: date-time}
        attemptDeadline: {type: string, format: date-time}
        completedAt: {type: string, format: date-time}
        result: {description: 'status: a MetricsSnapshot; logs: {name, bytes, sha256, chunks}'}
        error: {type: string}
        duplicateReplies: {type: integer}
        replyTokenSHA256: {type: string}
        tenant: {type: string}
    AgentReply:
      type: object
      required: [ok]
      properties:
        ok: {type: boolean}
        result: {}
        error: {type: string}
    Health:
      type: object
      required: [status, gatewayId]
      properties:
        status: {type: string, enum: [ok, ready, degraded, not ready]}
        gatewayId: {type: string}
        replica:
          type: object
          required: [synced, seq, resyncs, agents]
          properties:
            synced: {type: boolean}
            seq: {type: integer, minimum: 0}
            epoch: {type: string}
            secondsSinceRegistry: {type: number}
            resyncs: {type: integer}
            agents: {type: integer}
        bus:
          description: The bus as the registry sees it (absent when it did not answer within a second)
          type: object
          required: [gateways, workers]
          properties:
            gateways: {type: array, items: {$ref: '#/components/schemas/BusPeer'}}
            workers: {type: array, items: {$ref: '#/components/schemas/BusPeer'}}
            store:
              description: The registry's SQLite store (absent when it keeps none); not ok = degraded
              type: object
              required: [ok, pendingRows]
              properties:
                ok: {type: boolean, description: 'false while writes fail (the rows are kept and retried)'}
                error: {type: string}
                failingSince: {type: string, format: date-time}
                pendingRows: {type: integer, minimum: 0}
                corrupt:
                  description: For an hour after a start that found the store corrupt
                  type: object
                  required: [movedTo, at, reason]
                  properties:
                    movedTo: {type: string}
                    at: {type: string, format: date-time}
                    reason: {type: string}
        warnings: {type: array, items: {type: string}}
    BusPeer:
      type: object
      required: [id, secondsSinceHeard, count]
      properties:
        id: {type: string}
        secondsSinceHeard: {type: number}
        count: {type: integer, minimum: 0, description: 'gateways: live agent sessions; workers: jobs done'}
    Alert:
      type: object
      required: [id, rule, kind, agentId, hostname, state, firedAt, message]
      properties:
        id: {type: string}
        rule: {type: string}
        kind: {type: string, enum: [offline, cpu, memory, disk]}
        agentId: {type: string}
        hostname: {type: string}
        state: {type: string, enum: [firing, resolved]}
        firedAt: {type: string, format: date-time}
        resolvedAt: {type: string, format: date-time}
        value: {type: number}
        message: {type: string}
        tenant: {type: string}
    APIKey:
      type: object
      required: [id, name, role, createdAt]
      properties:
        id: {type: string, pattern: '^k-[0-9a-f]{12}$'}
        name: {type: string}
        role: {type: string, enum: [viewer, operator, admin, enrollment]}
        tenant: {type: string, description: 'Absent: every tenant'}
        createdAt: {type: string, format: date-time}
        createdBy: {type: string}
        revokedAt: {type: string, format: date-time}
        maxAgents: {type: integer, minimum: 1}
        secret: {type: string, description: 'Only in the answer to the POST that made the key'}
    AuditEntry:
      type: object
      required: [at, keyId, keyName, gatewayId, action, status, outcome]
      properties:
        id: {type: integer}
        at: {type: string, format: date-time}
        keyId: {type: string}
        keyName: {type: string}
        tenant: {type: string}
        source: {type: string}
        gatewayId: {type: string}
        action: {type: string, description: 'callback.<kind>, agent.delete, agent.approve, agent.revoke, token.create, token.revoke'}
        agentId: {type: string}
        requestId: {type: string}
        argsSHA256: {type: string, pattern: '^[0-9a-f]{64}$'}
        status: {type: integer}
        outcome: {type: string}
    FleetEvent:
      description: |
        One event of the /api/v1/events stream, by its SSE fields. `data` is the record as the REST API
        returns it: an AgentRecord for agent.*, a RequestRecord for request.*, an Alert for alert.*,
        `{"reason"}` for reset.
      type: object
      required: [id, event, data]
      properties:
        id: {type: string, description: '<epoch>-<seq> of the registry update (agent.metrics events, which ride the unsequenced metrics feed: <epoch>-<seq>.<n>, n counted by the gateway); what Last-Event-ID takes to resume', pattern: '^[0-9a-z]*-[0-9]+(\.[0-9]+)?$'}
        event:
          type: string
          enum: [agent.online, agent.disconnected, agent.offline, agent.pending, agent.revoked, agent.metrics, request.pending,
                 request.dispatched, request.completed, request.failed, alert.firing, alert.resolved, reset]
        data: {type: string, contentMediaType: application/json}
        retry: {type: integer, minimum: 0}
      allOf:
        - if: {properties: {event: {pattern: '^agent[.]'}}}
          then: {properties: {data: {contentMediaType: application/json, contentSchema: {$ref: '#/components/schemas/AgentRecord'}}}}
        - if: {properties: {event: {pattern: '^request[.]'}}}
          then: {properties: {data: {contentMediaType: application/json, contentSchema: {$ref: '#/components/schemas/RequestRecord'}}}}
        - if: {properties: {event: {pattern: '^alert[.]'}}}
          then: {properties: {data: {contentMediaType: application/json, contentSchema: {$ref: '#/components/schemas/Alert'}}}}
        - if: {properties: {event: {const: reset}}}
          then:
            properties:
              data:
                contentMediaType: application/json
                contentSchema: {type: object, required: [reason], properties: {reason: {type: string}}}
paths:
  /healthz:
    get:
      summary: The process is up
      responses:
        '200':
          description: OK
          content: {application/json: {schema: {$ref: '#/components/schemas/Health'}}}
  /openapi.yaml:
    get:
      summary: This document
      responses:
        '200':
          description: The OpenAPI 3.1 description of the API (this document)
          content: {application/yaml: {schema: {type: object, required: [openapi, info, paths]}}}
  /api/v1/alerts:
    get:
      summary: Firing and recently resolved alerts
      security: [{admin: []}]
      responses:
        '200':
          description: Alerts, newest first
          content:
            application/json:
              schema:
                type: object
                required: [alerts]
                properties:
                  alerts: {type: array, items: {$ref: '#/components/schemas/Alert'}}
        '401': {$ref: '#/components/responses/Unauthorized'}
        '403': {$ref: '#/components/responses/Forbidden'}
  /metrics:
    get:
      summary: This process's metrics (Prometheus text format)
      responses:
        '200': {description: Metrics, content: {text/plain: {schema: {type: string}}}}
  /metrics/fleet:
    get:
      summary: Every agent's latest metrics (Prometheus text format), labelled by agent and hostname; the key's tenant only
      security: [{admin: []}]
      responses:
        '200': {description: Metrics, content: {text/plain: {schema: {type: string}}}}
        '401': {$ref: '#/components/responses/Unauthorized'}
        '403': {$ref: '#/components/responses/Forbidden'}
  /readyz:
    get:
      summary: The gateway serves current fleet data (replica in sync, registry heard); lists bus peers
      responses:
        '200':
          description: Ready or degraded (see warnings)
          content: {application/json: {schema: {$ref: '#/components/schemas/Health'}}}
        '503':
          description: Not ready
          content: {application/json: {schema: {$ref: '#/components/schemas/Health'}}}
  /api/v1/agents:
    get:
      summary: List agents
      security: [{admin: []}]
      parameters:
        - {name: state, in: query, schema: {type: string, enum: [online, disconnected, offline, pending, revoked]}}
        - name: label
          in: query
          description: 'key=value (the value may be empty); repeated, an agent must have every one'
          schema: {type: array, items: {type: string, pattern: '^[^=]+='}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 10000, default: 1000}}
        - {name: offset, in: query, schema: {type: integer, minimum: 0, default: 0}}
      responses:
        '200':
          description: Agents, ordered by id
          content: {application/json: {schema: {$ref: '#/components/schemas/AgentList'}}}
        '400': {$ref: '#/components/responses/Error'}
        '401': {$ref: '#/components/responses/Unauthorized'}
        '403': {$ref: '#/components/responses/Forbidden'}
  /api/v1/agents/{id}:
    parameters: [{$ref: '#/components/parameters/agentId'}]
    get:
      summary: One agent
      security: [{admin: []}]
      responses:
        '200':
          description: The agent
          content: {application/json: {schema: {$ref: '#/components/schemas/AgentRecord'}}}
        '401': {$ref: '#/components/responses/Unauthorized'}
        '403': {$ref: '#/components/responses/Forbidden'}
        '404': {$ref: '#/components/responses/Error'}
    delete:
      summary: Forget an agent that is not connected
      security: [{admin: []}]
      responses:
        '202':
          description: Deletion requested
          content:
            application/json:
              schema: {type: object, required: [deleting], properties: {deleting: {type: string}}}
        '401': {$ref: '#/components/responses/Unauthorized'}
        '403': {$ref: '#/components/responses/Forbidden'}
        '404': {$ref: '#/components/responses/Error'}
        '409':
          description: The agent is connected, or restarting on a restart request (either way it would come straight back)
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Error'}
  /api/v1/agents/{id}/approve:
    parameters: [{$ref: '#/components/parameters/agentId'}]
    post:
      summary: Let in an agent waiting for approval (auth.approval); admin
      security: [{admin: []}]
      responses:
        '200':
          description: Approved (or it already was)
          content:
            application/json:
              schema: {type: object, required: [approved], properties: {approved: {type: string}}}
        '401': {$ref: '#/components/responses/Unauthorized'}
        '403': {$ref: '#/components/responses/Forbidden'}
        '404': {$ref: '#/components/responses/Error'}
        '409': {$ref: '#/components/responses/Error'}
        '503': {$ref: '#/components/responses/Error'}
  /api/v1/agents/{id}/revoke:
    parameters: [{$ref: '#/components/parameters/agentId'}]
    post:
      summary: Cut an agent off now and for good (its session closes; its credential is refused from then on); admin
      security: [{admin: []}]
      responses:
        '200':
          description: Revoked; answered once this gateway has closed the agent's sessions
          content:
            application/json:
              schema: {type: object, required: [revoked], properties: {revoked: {type: string}}}
        '401': {$ref: '#/components/responses/Unauthorized'}
        '403': {$ref: '#/components/responses/Forbidden'}
        '404': {$ref: '#/components/responses/Error'}
        '409': {$ref: '#/components/responses/Error'}
        '503': {$ref: '#/components/responses/Error'}
  /api/v1/tokens:
    get:
      summary: API keys and enrollment tokens (never their secrets); admin, the key's tenant only
      security: [{admin: []}]
      responses:
        '200':
          description: Keys, oldest first
          content:
            application/json:
              schema:
                type: object
                required: [tokens]
                properties:
                  tokens: {type: array, items: {$ref: '#/components/schemas/APIKey'}}
        '401': {$ref: '#/components/responses/Unauthorized'}
        '403': {$ref: '#/components/responses/Forbidden'}
    post:
      summary: Make an API key or enrollment token; its secret is in this answer only; admin
      security: [{admin: []}]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [role, name]
              properties:
                role: {type: string, enum: [viewer, operator, admin, enrollment]}
                name: {type: string, minLength: 1, maxLength: 128, pattern: '\S'}
                tenant: {type: ['string', 'null'], pattern: '^[a-z0-9_-]{1,64}$', description: 'null or absent: the calling key''s tenant (every tenant for an all-tenant key; default for enrollment tokens)'}
                maxAgents: {type: ['integer', 'null'], minimum: 1, description: 'enrollment tokens only; null or absent: no limit'}
              allOf:
                - if: {properties: {role: {not: {const: enrollment}}}}
                  then: {properties: {maxAgents: {type: 'null'}}}
      responses:
        '201':
          description: The key, with its secret
          content: {application/json: {schema: {$ref: '#/components/schemas/APIKey'}}}
        '400': {$ref: '#/components/responses/Error'}
        '401': {$ref: '#/components/responses/Unauthorized'}
        '403': {$ref: '#/components/responses/Forbidden'}
        '503': {$ref: '#/components/responses/Error'}
  /api/v1/tokens/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    delete:
      summary: Revoke a key; admin
      security: [{admin: []}]
      responses:
        '200':
          description: The key, revoked
          content: {application/json: {schema: {$ref: '#/components/schemas/APIKey'}}}
        '401': {$ref: '#/components/responses/Unauthorized'}
        '403': {$ref: '#/components/responses/Forbidden'}
        '404': {$ref: '#/components/responses/Error'}
        '503': {$ref: '#/components/responses/Error'}
  /api/v1/audit:
    get:
      summary: The audit log, newest first; admin, the key's tenant only
      security: [{admin: []}]
      parameters:
        - {name: since, in: query, schema: {type: string, format: date-time}}
        - {name: agent, in: query, schema: {type: string}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 10000, default: 1000}}
      responses:
        '200':
          description: Audit lines
          content:
            application/json:
              schema:
                type: object
                required: [entries]
                properties:
                  entries: {type: array, items: {$ref: '#/components/schemas/AuditEntry'}}
        '400': {$ref: '#/components/responses/Error'}
        '401': {$ref: '#/components/responses/Unauthorized'}
        '403': {$ref: '#/components/responses/Forbidden'}
        '503': {$ref: '#/components/responses/Error'}
  /api/v1/agents/{id}/metrics:
    parameters: [{$ref: '#/components/parameters/agentId'}]
    get:
      summary: Metrics history, oldest first
      security: [{admin: []}]
      parameters:
        - {name: since, in: query, schema: {type: string, format: date-time}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 10000, default: 1000}}
      responses:
        '200':
          description: History
          content:
            application/json:
              schema:
                type: object
                required: [agentId, metrics]
                properties:
                  agentId: {type: string}
                  metrics: {type: array, items: {$ref: '#/components/schemas/MetricsSnapshot'}}
        '400': {$ref: '#/components/responses/Error'}
        '401': {$ref: '#/components/responses/Unauthorized'}
        '403': {$ref: '#/components/responses/Forbidden'}
        '404': {$ref: '#/components/responses/Error'}
        '503': {$ref: '#/components/responses/Error'}
  /api/v1/agents/{id}/callbacks:
    parameters: [{$ref: '#/components/parameters/agentId'}, {$ref: '#/components/parameters/wait'}]
    post:
      summary: Ask an agent for something (status, logs, config, exec, restart)
      security: [{admin: []}]
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/CallbackRequest'}}}
      responses:
        '200':
          description: Finished within ?wait
          content: {application/json: {schema: {$ref: '#/components/schemas/RequestRecord'}}}
        '202':
          description: Accepted, and stored by the registry (a 202 is never lost)
          content:
            application/json:
              schema: {type: object, required: [requestId], properties: {requestId: {type: string}}}
        '400': {$ref: '#/components/responses/Error'}
        '401': {$ref: '#/components/responses/Unauthorized'}
        '403': {$ref: '#/components/responses/Forbidden'}
        '404': {$ref: '#/components/responses/Error'}
        '409': {$ref: '#/components/responses/Error'}
        '503':
          description: >-
            not_confirmed (the registry did not confirm the request within 5 s; it is not run if it reaches
            the registry later, and GET /api/v1/requests/{id} says so) or not_synced (this gateway has not
            received the fleet state yet). Retry-After is set.
          content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}
  /api/v1/requests/{id}:
    parameters: [{$ref: '#/components/parameters/requestId'}, {$ref: '#/components/parameters/wait'}]
    get:
      summary: A request and its result
      security: [{admin: []}]
      responses:
        '200':
          description: The request
          content: {application/json: {schema: {$ref: '#/components/schemas/RequestRecord'}}}
        '400': {$ref: '#/components/responses/Error'}
        '401': {$ref: '#/components/responses/Unauthorized'}
        '403': {$ref: '#/components/responses/Forbidden'}
        '404': {$ref: '#/components/responses/Error'}
  /api/v1/requests/{id}/content:
    parameters: [{$ref: '#/components/parameters/requestId'}, {$ref: '#/components/parameters/wait'}]
    get:
      summary: The file a completed logs request brought back (streamed)
      description: |
        A request not yet finished in this gateway's view is waited for (`wait` seconds, 2 by default, so a
        request seen completed through another gateway a moment ago is served); still unfinished, it is 409.
      security: [{admin: []}]
      responses:
        '200':
          description: The bytes; X-Content-SHA256 carries their hash
          headers:
            X-Content-SHA256: {schema: {type: string, pattern: '^[0-9a-f]{64}$'}}
          content: {application/octet-stream: {schema: {type: string, format: binary}}}
        '401': {$ref: '#/components/responses/Unauthorized'}
        '403': {$ref: '#/components/responses/Forbidden'}
        '400': {$ref: '#/components/responses/Error'}
        '404': {$ref: '#/components/responses/Error'}
        '409': {$ref: '#/components/responses/Error'}
  /api/v1/events:
    get:
      summary: Live fleet events (server-sent events); resume with Last-Event-ID
      security: [{admin: []}]
      parameters:
        - {name: Last-Event-ID, in: header, schema: {type: string}}
        - {name: lastEventId, in: query, schema: {type: string}}
      responses:
        '200':
          description: |
            A stream of events (`retry: 2000` first, a comment every 15 s to keep proxies from closing it).
            The schema describes one event (see FleetEvent).
          content: {text/event-stream: {schema: {$ref: '#/components/schemas/FleetEvent'}}}
        '401': {$ref: '#/components/responses/Unauthorized'}
        '403': {$ref: '#/components/responses/Forbidden'}
  /api/v1/callbacks/{id}:
    parameters: [{$ref: '#/components/parameters/requestId'}]
    post:
      summary: An agent delivers a callback result
      security: [{reply: []}]
      requestBody:
        required: true
        content:
          application/json: {schema: {$ref: '#/components/schemas/AgentReply'}}
          application/octet-stream: {schema: {type: string, format: binary}}
      responses:
        '202':
          description: Accepted and queued for a worker
          content:
            application/json:
              schema: {type: object, required: [accepted], properties: {accepted: {type: boolean}}}
        '400': {$ref: '#/components/responses/Error'}
        '401': {$ref: '#/components/responses/Error'}
        '403': {$ref: '#/components/responses/Error'}
        '404': {$ref: '#/components/responses/Error'}
        '409': {$ref: '#/components/responses/Error'}
        '413': {$ref: '#/components/responses/Error'}
        '429':
          description: This agent sent more replies a second than gateway.callback_rate allows; retry after Retry-After
          headers:
            Retry-After: {schema: {type: integer}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Error'}

"""#
}
