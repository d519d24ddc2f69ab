// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title SettableFeed
/// @notice A Chainlink AggregatorV3Interface whose round the test sets: a price feed or an
///         L2 sequencer uptime feed (answer 0 = up, 1 = down; startedAt = last status change).
contract SettableFeed {
    uint8 public immutable decimals;
    string public description;
    uint256 public constant version = 4;

    uint80 private _roundId;
    int256 private _answer;
    uint256 private _startedAt;
    uint256 private _updatedAt;

    constructor(uint8 decimals_, string memory description_, int256 answer_) {
        decimals = decimals_;
        description = description_;
        setAnswer(answer_);
    }

    /// @notice A new round with `answer`, started and updated now.
    function setAnswer(int256 answer) public {
        setRound(answer, block.timestamp, block.timestamp);
    }

    /// @notice A new round with explicit times (stale or back-dated rounds).
    function setRound(int256 answer, uint256 startedAt, uint256 updatedAt) public {
        _roundId += 1;
        _answer = answer;
        _startedAt = startedAt;
        _updatedAt = updatedAt;
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return (_roundId, _answer, _startedAt, _updatedAt, _roundId);
    }

    function getRoundData(uint80 roundId_)
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        require(roundId_ == _roundId, "SettableFeed: only the latest round is kept");
        return (_roundId, _answer, _startedAt, _updatedAt, _roundId);
    }
}
